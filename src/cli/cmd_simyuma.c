/*
 * cmd_simyuma.c — `agora sim yuma SCENARIO`: runs a whole-network scenario through the real
 * state machine (sim/scenario.h) and prints per-epoch tables of validator dividends and miner
 * incentive; --plot FILE writes them as an SVG chart.
 */
#include "cli/cli.h"
#include "core/err.h"
#include "core/util.h"
#include "sim/scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: agora sim yuma SCENARIO [--commit-reveal on|off] [--epochs N] [--plot FILE.svg] [--json]\n\n"
    "Runs a scenario on a fresh chain through the real state machine: validators and miners\n"
    "are keys sending real transactions, blocks are executed, and after every epoch the\n"
    "metagraph is recorded. Scenarios:\n"
    "  honest   three honest validators (stake 50/30/20), three miners of fixed quality\n"
    "  copier   three honest validators and a weight copier (15%%); the best miner changes every\n"
    "           epoch. Run it with --commit-reveal off and on to see what commit-reveal does.\n"
    "  cabal    a cabal with 25%% of the stake (below kappa) weights only its own useless miner\n"
    "  late     a validator with 80%% of the stake follows a change of the best miner 5 epochs late\n\n"
    "Dividends and incentive are the chain's u16 proportions shown as fractions; 'yield' is\n"
    "validator emission per unit of stake, relative to the honest validators' mean.\n";

static void write_svg(FILE *f, const ag_scenario_result *r) {
  const int W = 760, H = 560, L = 60, R = 190, top1 = 40, h1 = 210, top2 = 310, h2 = 210;
  static const char *col[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
  int pw = W - L - R;
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
  fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
  fprintf(f, "<text x=\"%d\" y=\"22\" font-size=\"15\">agora sim yuma %s (commit-reveal %s)</text>\n", L, r->name,
          r->commit_reveal ? "on" : "off");
  for (int panel = 0; panel < 2; panel++) {
    int y0 = panel ? top2 : top1, hh = panel ? h2 : h1, nser = panel ? r->nminer : r->nval;
    fprintf(f, "<text x=\"%d\" y=\"%d\">%s</text>\n", L, y0 - 6, panel ? "miner incentive" : "validator dividends");
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n", L, y0, pw, hh);
    for (int t = 0; t <= 4; t++) {
      int y = y0 + hh - hh * t / 4;
      fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#eee\"/><text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.2f</text>\n",
              L, L + pw, y, y, L - 6, y + 4, t / 4.0);
    }
    for (int s = 0; s < nser; s++) {
      fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col[s % 8]);
      for (int e = 0; e < r->epochs; e++) {
        double v = (panel ? r->incentive[e][s] : r->dividends[e][s]) / 65535.0;
        double x = L + (r->epochs > 1 ? (double)pw * e / (r->epochs - 1) : 0);
        fprintf(f, "%.1f,%.1f ", x, y0 + hh - v * hh);
      }
      fprintf(f, "\"/>\n<text x=\"%d\" y=\"%d\" fill=\"%s\">%s</text>\n", L + pw + 10, y0 + 16 + 16 * s, col[s % 8],
              panel ? r->mname[s] : r->vname[s]);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">epoch</text>\n", L + pw / 2, y0 + hh + 28);
    for (int e = 0; e < r->epochs; e += (r->epochs > 10 ? 5 : 1))
      fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n",
              L + (r->epochs > 1 ? (double)pw * e / (r->epochs - 1) : 0), y0 + hh + 14, e + 1);
  }
  fprintf(f, "</svg>\n");
}

int ag_sim_yuma(ag_cli *c, int argc, char **argv);
int ag_sim_yuma(ag_cli *c, int argc, char **argv) {
  const char *cr = NULL, *epochs_s = NULL, *plot = NULL;
  ag_opt opts[] = {{"commit-reveal", 0, 1, &cr, NULL}, {"epochs", 0, 1, &epochs_s, NULL},
                   {"plot", 0, 1, &plot, NULL}, {"", 0, 0, NULL, NULL}};
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 1, &npos);
  if (rc) return rc;
  if (c->help || npos != 1) return ag_cli_usage(c, usage);
  int crv = -1;
  if (cr) {
    if (!strcmp(cr, "on")) crv = 1;
    else if (!strcmp(cr, "off")) crv = 0;
    else return ag_cli_fail(c, AG_E_USAGE, "--commit-reveal is on or off");
  }
  uint64_t ep = 0;
  if (epochs_s && (ag_parse_u64(epochs_s, &ep) || ep < 1 || ep > AG_SCN_MAX_EPOCHS))
    return ag_cli_fail(c, AG_E_USAGE, "--epochs must be 1..%d", AG_SCN_MAX_EPOCHS);
  ag_scenario_result *r = ag_xcalloc(1, sizeof *r);
  if (!c->json) fprintf(stderr, "running scenario %s on a fresh chain...\n", pos[0]);
  rc = ag_scenario_run(pos[0], crv, (int)ep, r);
  if (rc) {
    free(r);
    return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  }
  /* yields relative to the honest validators' mean (over the second half, after warm-up) */
  double honest = 0, yv[AG_SCN_MAX_V];
  int nh = 0, from = r->epochs / 2;
  for (int v = 0; v < r->nval; v++) {
    yv[v] = ag_scenario_yield(r, v, from, r->epochs);
    if (strstr(r->vname[v], "honest")) honest += yv[v], nh++;
  }
  honest = nh ? honest / nh : 0;
  if (c->json) {
    json_t *o = json_object(), *eps = json_array(), *vals = json_array(), *ms = json_array();
    json_object_set_new(o, "scenario", json_string(r->name));
    json_object_set_new(o, "commit_reveal", json_boolean(r->commit_reveal));
    for (int v = 0; v < r->nval; v++) {
      json_t *x = json_object();
      json_object_set_new(x, "name", json_string(r->vname[v]));
      json_object_set_new(x, "stake", json_integer((json_int_t)r->vstake[v]));
      json_object_set_new(x, "relative_yield", json_real(honest > 0 ? yv[v] / honest : 0));
      json_array_append_new(vals, x);
    }
    for (int m = 0; m < r->nminer; m++) json_array_append_new(ms, json_string(r->mname[m]));
    for (int e = 0; e < r->epochs; e++) {
      json_t *x = json_object(), *d = json_array(), *in = json_array();
      for (int v = 0; v < r->nval; v++) json_array_append_new(d, json_integer(r->dividends[e][v]));
      for (int m = 0; m < r->nminer; m++) json_array_append_new(in, json_integer(r->incentive[e][m]));
      json_object_set_new(x, "epoch", json_integer(e + 1));
      json_object_set_new(x, "dividends", d);
      json_object_set_new(x, "incentive", in);
      json_array_append_new(eps, x);
    }
    json_object_set_new(o, "validators", vals);
    json_object_set_new(o, "miners", ms);
    json_object_set_new(o, "epochs", eps);
    ag_cli_print_json(o);
  } else {
    printf("scenario %s, commit-reveal %s\n\n%5s", r->name, r->commit_reveal ? "on" : "off", "epoch");
    for (int v = 0; v < r->nval; v++) printf(" | D %-14s", r->vname[v]);
    for (int m = 0; m < r->nminer; m++) printf(" | I %-8s", r->mname[m]);
    printf("\n");
    for (int e = 0; e < r->epochs; e++) {
      printf("%5d", e + 1);
      for (int v = 0; v < r->nval; v++) printf(" | %16.4f", r->dividends[e][v] / 65535.0);
      for (int m = 0; m < r->nminer; m++) printf(" | %10.4f", r->incentive[e][m] / 65535.0);
      printf("\n");
    }
    printf("\nvalidator yield per unit of stake, epochs %d..%d, relative to the honest mean:\n", from + 1, r->epochs);
    for (int v = 0; v < r->nval; v++) printf("  %-16s %.3f\n", r->vname[v], honest > 0 ? yv[v] / honest : 0);
  }
  if (plot) {
    FILE *f = fopen(plot, "w");
    if (!f) {
      free(r);
      return ag_cli_fail(c, AG_E_IO, "cannot write %s", plot);
    }
    write_svg(f, r);
    fclose(f);
    if (!c->json) printf("chart written to %s\n", plot);
  }
  free(r);
  return 0;
}
