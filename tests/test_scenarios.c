/* test_scenarios.c — what Yuma consensus promises, checked on whole networks run through the
 * real state machine (sim/scenario.h): commit-reveal takes a weight copier's income away; a
 * cabal below kappa cannot lift its own miner; honest validators earn in proportion to stake. */
#include "core/err.h"
#include "sim/scenario.h"
#include "test.h"

#include <stdlib.h>

static double honest_mean(const ag_scenario_result *r, int from) {
  double s = 0;
  int n = 0;
  for (int v = 0; v < r->nval; v++)
    if (strstr(r->vname[v], "honest")) {
      s += ag_scenario_yield(r, v, from, r->epochs);
      n++;
    }
  return n ? s / n : 0;
}

TEST(commit_reveal_starves_the_weight_copier) {
  ag_scenario_result *off = calloc(1, sizeof *off), *on = calloc(1, sizeof *on);
  CHECK_OK(ag_scenario_run("copier", 0, 16, off));
  CHECK_OK(ag_scenario_run("copier", 1, 16, on));
  int from = 8;
  double copier_off = ag_scenario_yield(off, 3, from, off->epochs) / honest_mean(off, from);
  double copier_on = ag_scenario_yield(on, 3, from, on->epochs) / honest_mean(on, from);
  fprintf(stderr, "  copier yield relative to honest: %.3f without commit-reveal, %.3f with\n",
          copier_off, copier_on);
  CHECK(copier_off > 0.95); /* seeing weights as they are set, copying pays */
  CHECK(copier_on < 0.8);   /* seeing them an epoch late, it does not */
  CHECK(copier_on < copier_off);
  free(off);
  free(on);
}

TEST(cabal_below_kappa_cannot_lift_its_miner) {
  ag_scenario_result *r = calloc(1, sizeof *r);
  CHECK_OK(ag_scenario_run("cabal", -1, 8, r));
  for (int e = 0; e < r->epochs; e++) {
    CHECK_EQ(r->incentive[e][2], 0);     /* consensus gives the cabal's miner nothing */
    CHECK_EQ(r->miner_emission[e][2], 0);
    CHECK(r->incentive[e][0] > r->incentive[e][1]);
  }
  /* the honest miners share exactly as the honest validators' weights say (2:1) */
  int e = r->epochs - 1;
  CHECK(abs((int)r->incentive[e][0] - 2 * (int)r->incentive[e][1]) <= 2);
  free(r);
}

TEST(honest_validators_earn_by_stake) {
  ag_scenario_result *r = calloc(1, sizeof *r);
  CHECK_OK(ag_scenario_run("honest", -1, 8, r));
  int e = r->epochs - 1;
  /* stakes 50/30/20: dividends follow stake, incentive follows the miners' quality 6:3:1 */
  CHECK(abs((int)r->dividends[e][0] - 32767) < 40);
  CHECK(abs((int)r->dividends[e][1] - 19660) < 40);
  CHECK(r->incentive[e][0] > r->incentive[e][1] && r->incentive[e][1] > r->incentive[e][2]);
  double y0 = ag_scenario_yield(r, 0, 4, r->epochs), y2 = ag_scenario_yield(r, 2, 4, r->epochs);
  CHECK(y0 > 0 && y2 / y0 > 0.98 && y2 / y0 < 1.02);
  free(r);
}

TEST(unknown_scenario) {
  ag_scenario_result *r = calloc(1, sizeof *r);
  CHECK_EQ(ag_scenario_run("nope", -1, 1, r), AG_E_INVALID);
  free(r);
}

TEST_MAIN(commit_reveal_starves_the_weight_copier, cabal_below_kappa_cannot_lift_its_miner,
          honest_validators_earn_by_stake, unknown_scenario)
