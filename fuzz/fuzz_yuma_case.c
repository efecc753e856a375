/* fuzz_yuma_case.c — libFuzzer target for the Yuma case reader and runner (agora sim epoch):
 * any bytes must give either a result or a precise AG_E_* error, never a crash, leak or UB. A
 * successful run is also checked against its own expectations and dumped, to exercise the
 * checker and printer. Inputs are capped at 16 KiB so one run stays fast. */
#include "core/err.h"
#include "incentive/yuma_case.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 16384) return 0;
  json_error_t err;
  json_t *c = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
  if (!c) return 0;
  json_t *r = NULL;
  int rc = ag_yuma_case_run(c, &r);
  if (rc == 0) {
    (void)ag_yuma_case_check(c, r);
    free(ag_yuma_case_dump(r));
  } else if (rc > 0 || !ag_errmsg(rc)) {
    abort();
  }
  json_decref(r);
  json_decref(c);
  return 0;
}
