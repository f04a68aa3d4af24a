/* Inline SVG plots for `pmhmc report`: see report_svg.h. */
#include "cli/report_svg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char REPORT_STYLE[] =
    "body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1200px}\n"
    "h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}\n"
    "table.summary{border-collapse:collapse;font-size:0.85em}\n"
    "table.summary th,table.summary td{padding:2px 8px;text-align:right;border-bottom:1px solid #eee}\n"
    "table.summary th:first-child,table.summary td:first-child{text-align:left}\n"
    "td.bad{color:#c00;font-weight:bold}\n"
    ".param{display:flex;flex-wrap:wrap;gap:8px;margin-bottom:6px}\n"
    "svg{background:#fff;font-size:11px}\n"
    "svg .frame{fill:none;stroke:#999}svg .tick{stroke:#999}svg .grid{stroke:#eee}\n"
    "svg .title{font-size:13px;font-weight:bold}svg .axis{fill:#666}\n"
    "svg .chain{fill:none;stroke-width:0.8;stroke-opacity:0.8}\n"
    "svg .bars{fill-opacity:0.55;stroke:none}\n"
    "svg .truth{stroke:#000;stroke-width:1.5}\n"
    ".legend span{display:inline-block;margin-right:1em}\n"
    ".swatch{display:inline-block;width:14px;height:4px;vertical-align:middle;margin-right:4px}\n"
    ".note{color:#555;font-size:0.9em}\n";

/* Plot geometry, in SVG user units. */
enum { W = 560, H = 190, ML = 64, MR = 12, MT = 24, MB = 30 };
enum { N_BINS = 40 };

static const char *const PALETTE[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                      "#9467bd", "#8c564b", "#e377c2", "#17becf"};

const char *report_chain_colour(size_t c)
{
    return PALETTE[c % (sizeof PALETTE / sizeof PALETTE[0])];
}

void report_escape(FILE *f, const char *text)
{
    for (const char *c = text; *c; ++c) {
        switch (*c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default:
            /* control characters are not allowed in XML 1.0 */
            fputc((unsigned char)*c < 0x20 && *c != '\t' && *c != '\n' ? ' ' : *c, f);
        }
    }
}

/* A data range [lo, hi] with room around it; a constant gets a unit width. */
typedef struct range {
    double lo, hi;
} range;

static void range_add(range *r, double v)
{
    if (!isfinite(v))
        return;
    if (v < r->lo)
        r->lo = v;
    if (v > r->hi)
        r->hi = v;
}

static range range_pad(range r, double frac)
{
    if (!(r.lo <= r.hi)) /* no finite values */
        return (range){0.0, 1.0};
    double w = r.hi - r.lo;
    if (w <= 0.0 || w < 1e-12 * fabs(r.lo)) {
        double h = r.lo != 0.0 ? 0.05 * fabs(r.lo) : 0.5;
        return (range){r.lo - h, r.hi + h};
    }
    return (range){r.lo - frac * w, r.hi + frac * w};
}

/* A 1-2-5 step giving about 4 ticks over r. */
static double tick_step(range r)
{
    double raw = (r.hi - r.lo) / 4.0;
    double mag = pow(10.0, floor(log10(raw)));
    double m = raw / mag;
    return (m < 1.5 ? 1.0 : m < 3.5 ? 2.0 : m < 7.5 ? 5.0 : 10.0) * mag;
}

static void fmt_tick(char *buf, size_t size, double v, double step)
{
    if (fabs(v) < 1e-9 * step)
        v = 0.0;
    double a = fabs(v);
    if (a != 0.0 && (a >= 1e6 || a < 1e-3))
        snprintf(buf, size, "%.2g", v);
    else {
        int decimals = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
        snprintf(buf, size, "%.*f", decimals, v);
    }
}

static double px(range r, double v) { return ML + (v - r.lo) / (r.hi - r.lo) * (W - ML - MR); }
static double py(range r, double v) { return H - MB - (v - r.lo) / (r.hi - r.lo) * (H - MT - MB); }

/* Frame, ticks with labels on both axes and the title. */
static void axes(FILE *f, range xr, range yr, const char *label, const char *x_name, int y_ticks)
{
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"frame\"/>\n", ML, MT, W - ML - MR,
            H - MT - MB);
    char buf[64];
    double step = tick_step(xr);
    for (double v = ceil(xr.lo / step) * step; v <= xr.hi + 1e-9 * step; v += step) {
        double x = px(xr, v);
        fmt_tick(buf, sizeof buf, v, step);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"tick\"/>", x, H - MB, x, H - MB + 4);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", x, H - MB + 15, buf);
    }
    if (y_ticks) {
        step = tick_step(yr);
        for (double v = ceil(yr.lo / step) * step; v <= yr.hi + 1e-9 * step; v += step) {
            double y = py(yr, v);
            fmt_tick(buf, sizeof buf, v, step);
            fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>", ML, y, W - MR, y);
            fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", ML - 4, y + 4, buf);
        }
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"title\">", ML, MT - 8);
    report_escape(f, label);
    fputs("</text>\n", f);
    if (x_name) {
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" class=\"axis\">", W - MR, MT - 8);
        report_escape(f, x_name);
        fputs("</text>\n", f);
    }
}

static void svg_open(FILE *f, const char *cls, const char *label)
{
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"%s\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
            cls, W, H, W, H);
    fputs("<title>", f);
    report_escape(f, label);
    fputs("</title>\n", f);
}

void report_svg_trace(FILE *f, const char *cls, const char *label, const double *x, size_t n_chains, size_t n,
                      double truth)
{
    range yr = {INFINITY, -INFINITY};
    for (size_t i = 0; i < n_chains * n; ++i)
        range_add(&yr, x[i]);
    range_add(&yr, truth);
    yr = range_pad(yr, 0.04);
    range xr = {0.0, n > 1 ? (double)(n - 1) : 1.0};
    size_t stride = (n + REPORT_MAX_POINTS - 1) / REPORT_MAX_POINTS;
    if (stride < 1)
        stride = 1;
    svg_open(f, cls, label);
    axes(f, xr, yr, label, "draw", 1);
    for (size_t c = 0; c < n_chains; ++c) {
        fprintf(f, "<polyline class=\"chain\" stroke=\"%s\" points=\"", report_chain_colour(c));
        const double *xc = x + c * n;
        int first = 1;
        for (size_t i = 0; i < n; i += stride) {
            if (!isfinite(xc[i]))
                continue;
            fprintf(f, "%s%.1f,%.1f", first ? "" : " ", px(xr, (double)i), py(yr, xc[i]));
            first = 0;
        }
        fputs("\"/>\n", f);
    }
    if (isfinite(truth))
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"truth\" stroke-dasharray=\"6,4\"/>\n", ML,
                py(yr, truth), W - MR, py(yr, truth));
    fputs("</svg>\n", f);
}

void report_svg_hist(FILE *f, const char *cls, const char *label, const report_series *s, size_t n_series,
                     double mark)
{
    range xr = {INFINITY, -INFINITY};
    for (size_t k = 0; k < n_series; ++k)
        for (size_t i = 0; i < s[k].n; ++i)
            range_add(&xr, s[k].x[i]);
    range bins = range_pad(xr, 0.0);
    range_add(&xr, mark);
    xr = range_pad(xr, 0.03);
    if (bins.lo < xr.lo)
        bins.lo = xr.lo;
    if (bins.hi > xr.hi)
        bins.hi = xr.hi;
    double width = (bins.hi - bins.lo) / N_BINS;
    double counts[8][N_BINS] = {{0}};
    double top = 0.0;
    if (n_series > 8)
        n_series = 8;
    for (size_t k = 0; k < n_series; ++k) {
        size_t total = 0;
        for (size_t i = 0; i < s[k].n; ++i) {
            double v = s[k].x[i];
            if (!isfinite(v))
                continue;
            long b = (long)floor((v - bins.lo) / width);
            b = b < 0 ? 0 : b >= N_BINS ? N_BINS - 1 : b;
            counts[k][b] += 1.0;
            ++total;
        }
        for (int b = 0; b < N_BINS; ++b) { /* densities, so series of different sizes compare */
            counts[k][b] = total ? counts[k][b] / ((double)total * width) : 0.0;
            if (counts[k][b] > top)
                top = counts[k][b];
        }
    }
    range yr = {0.0, top > 0.0 ? top * 1.05 : 1.0};
    svg_open(f, cls, label);
    axes(f, xr, yr, label, NULL, 0);
    for (size_t k = 0; k < n_series; ++k) {
        fprintf(f, "<path class=\"bars\" fill=\"%s\" d=\"", s[k].colour);
        for (int b = 0; b < N_BINS; ++b) {
            if (counts[k][b] <= 0.0)
                continue;
            double x0 = px(xr, bins.lo + b * width), x1 = px(xr, bins.lo + (b + 1) * width);
            double y = py(yr, counts[k][b]);
            fprintf(f, "M%.1f %dV%.1fH%.1fV%dZ", x0, H - MB, y, x1, H - MB);
        }
        fputs("\"/>\n", f);
        if (s[k].name) {
            double ly = MT + 14.0 + 16.0 * (double)k;
            fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\" opacity=\"0.6\"/>", W - MR - 150,
                    ly - 9, s[k].colour);
            fprintf(f, "<text x=\"%d\" y=\"%.1f\">", W - MR - 136, ly);
            report_escape(f, s[k].name);
            fputs("</text>\n", f);
        }
    }
    if (isfinite(mark))
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"truth\" stroke-dasharray=\"6,4\"/>\n",
                px(xr, mark), MT, px(xr, mark), H - MB);
    fputs("</svg>\n", f);
}
