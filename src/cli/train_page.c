#define _POSIX_C_SOURCE 200809L /* getline */
#include "cli/train_page.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/out_file.h"
#include "cli/report_svg.h"
#include "io/config.h"

int train_page_curves(FILE *f, const train_curve *c, size_t best_epoch, int h)
{
    const size_t n = c->n;
    double *series = malloc(2 * (n ? n : 1) * sizeof *series);
    if (!series)
        return -1;
    /* the two losses as two "chains" of the trace plot, on a log scale */
    for (size_t i = 0; i < n; ++i) {
        series[i] = log10(c->train_loss[i]);
        series[n + i] = log10(c->val_loss[i]);
    }
    fprintf(f, "<h%d>Loss</h%d>\n<p><span style=\"color:%s\">training</span> and <span style=\"color:%s\">"
               "validation</span> loss, log10, by epoch.</p>\n",
            h, h, report_chain_colour(0), report_chain_colour(1));
    report_svg_trace(f, "loss", "log10 loss", series, 2, n, log10(c->val_loss[best_epoch ? best_epoch - 1 : 0]));
    for (size_t i = 0; i < n; ++i)
        series[i] = 100.0 * c->grad_error[i];
    fprintf(f, "<h%d>Gradient error</h%d>\n<p>Validation gradient error, sqrt(sum |G - T|^2 / sum |T|^2), in percent, "
               "by epoch.</p>\n",
            h, h);
    report_svg_trace(f, "grad_error", "gradient error %", series, 1, n,
                     100.0 * c->grad_error[best_epoch ? best_epoch - 1 : 0]);
    free(series);
    return 0;
}

int train_page_write(FILE *f, const char *title, const train_curve *c, size_t best_epoch)
{
    fprintf(f, "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n"
               "<meta charset=\"utf-8\"/>\n<title>pmhmc train</title>\n<style>\n%s</style>\n</head>\n<body>\n"
               "<h1>pmhmc train</h1>\n<p>",
            REPORT_STYLE);
    report_escape(f, title);
    fprintf(f, "</p>\n<p>%zu epochs; the network keeps the weights of epoch %zu, the lowest validation loss "
               "(the dashed lines mark its values; epochs count from 0 on the axes).</p>\n",
            c->n, best_epoch);
    if (train_page_curves(f, c, best_epoch, 2) != 0)
        return -1;
    fputs("</body>\n</html>\n", f);
    return ferror(f) ? -1 : 0;
}

int train_curve_append(train_curve *c, size_t *cap, double train_loss, double val_loss, double grad_error)
{
    if (c->n == *cap) { /* one block of three arrays, doubled as needed */
        size_t room = *cap ? 2 * *cap : 256;
        double *block = malloc(3 * room * sizeof *block);
        if (!block)
            return -1;
        for (size_t i = 0; i < c->n; ++i) {
            block[i] = c->train_loss[i];
            block[room + i] = c->val_loss[i];
            block[2 * room + i] = c->grad_error[i];
        }
        free(c->train_loss);
        c->train_loss = block;
        c->val_loss = block + room;
        c->grad_error = block + 2 * room;
        *cap = room;
    }
    c->train_loss[c->n] = train_loss;
    c->val_loss[c->n] = val_loss;
    c->grad_error[c->n] = grad_error;
    c->n++;
    return 0;
}

void train_curve_free(train_curve *c)
{
    free(c->train_loss);
    memset(c, 0, sizeof *c);
}

int train_curve_read(const char *path, train_curve *c, size_t *best)
{
    memset(c, 0, sizeof *c);
    *best = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0, room = 0;
    int rc = 0, header = 1;
    double best_loss = INFINITY;
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        if (header) { /* the column names, checked */
            header = 0;
            rc = strncmp(line, "epoch,learning_rate,train_loss,val_loss,val_grad_error", 54) == 0 ? 0 : -1;
            continue;
        }
        size_t epoch;
        double rate, train, val, error;
        if (sscanf(line, "%zu,%lf,%lf,%lf,%lf", &epoch, &rate, &train, &val, &error) != 5 || epoch != c->n + 1) {
            rc = -1;
            break;
        }
        if (train_curve_append(c, &room, train, val, error) != 0) {
            rc = -1;
            break;
        }
        if (val < best_loss) {
            best_loss = val;
            *best = c->n;
        }
    }
    free(line);
    fclose(f);
    if (rc != 0 || c->n == 0) {
        train_curve_free(c);
        return -1;
    }
    return 0;
}

char *train_log_path(const pmhmc_config *cfg)
{
    if (cfg->hnn.train_log && cfg->hnn.train_log[0])
        return strdup(cfg->hnn.train_log);
    return cli_path_with_suffix(cfg->hnn.weights, "_log.csv");
}

char *train_page_path(const pmhmc_config *cfg) { return cli_path_with_suffix(cfg->hnn.weights, ".html"); }
