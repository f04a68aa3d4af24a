#include "cli/train_page.h"

#include <math.h>
#include <stdlib.h>

#include "cli/report_svg.h"

int train_page_write(FILE *f, const char *title, const train_curve *c, size_t best_epoch)
{
    const size_t n = c->n;
    double *series = malloc(2 * (n ? n : 1) * sizeof *series);
    if (!series)
        return -1;
    fprintf(f, "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n"
               "<meta charset=\"utf-8\"/>\n<title>pmhmc train</title>\n<style>\n%s</style>\n</head>\n<body>\n"
               "<h1>pmhmc train</h1>\n<p>",
            REPORT_STYLE);
    report_escape(f, title);
    fprintf(f, "</p>\n<p>%zu epochs; the network keeps the weights of epoch %zu, the lowest validation loss "
               "(the dashed lines mark its values; epochs count from 0 on the axes).</p>\n",
            n, best_epoch);
    /* the two losses as two "chains" of the trace plot, on a log scale */
    for (size_t i = 0; i < n; ++i) {
        series[i] = log10(c->train_loss[i]);
        series[n + i] = log10(c->val_loss[i]);
    }
    fprintf(f, "<h2>Loss</h2>\n<p><span style=\"color:%s\">training</span> and <span style=\"color:%s\">"
               "validation</span> loss, log10, by epoch.</p>\n",
            report_chain_colour(0), report_chain_colour(1));
    report_svg_trace(f, "loss", "log10 loss", series, 2, n, log10(c->val_loss[best_epoch ? best_epoch - 1 : 0]));
    for (size_t i = 0; i < n; ++i)
        series[i] = 100.0 * c->grad_error[i];
    fputs("<h2>Gradient error</h2>\n<p>Validation gradient error, sqrt(sum |G - T|^2 / sum |T|^2), in percent, by "
          "epoch.</p>\n",
          f);
    report_svg_trace(f, "grad_error", "gradient error %", series, 1, n,
                     100.0 * c->grad_error[best_epoch ? best_epoch - 1 : 0]);
    fputs("</body>\n</html>\n", f);
    free(series);
    return ferror(f) ? -1 : 0;
}
