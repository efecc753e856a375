/*
 * fuzz_snapshot.c — restoring a state-sync snapshot from untrusted peers
 * (consensus/snapshot.h), into a fresh store per input.
 *
 * An input is an offer (height, format, chunk count, the trusted app hash, a metadata length
 * that may lie) and then chunks of fuzzed bytes. The offered metadata hashes the chunks as
 * given, so that the record parser reads fuzzed records; each chunk may first arrive damaged,
 * from a fuzzed sender.
 * What must hold: the offer is accepted exactly when its numbers are consistent; a damaged
 * chunk is RETRY, and its sender is rejected exactly when it sent a bad chunk before; a chunk
 * that matches is ACCEPT or REJECT_SNAPSHOT; after REJECT_SNAPSHOT (or a restore given up
 * half way) the store is empty again; a restore that completes leaves the offered height
 * committed with the trusted app hash.
 */
#include "chain/app.h"
#include "chain/state.h"
#include "consensus/snapshot.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"

#include "fuzz_input.h"
#include "fuzz_setup.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char base[256];
static unsigned runs;

static void remove_base(void) { rmdir(base); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  ag_crypto_init();
  ag_log_set_level(AG_LOG_ERROR); /* refusals are the point: keep their warnings quiet */
  fuzz_tmpdir(base, sizeof base, "fuzz_snapshot");
  atexit(remove_base);
  return 0;
}

static void must_be_empty(ag_app *app) {
  ag_state_meta m;
  ag_app_info info;
  if (ag_state_meta_get(ag_app_state(app), &m) != AG_E_NOTFOUND) abort();
  if (ag_app_info_get(app, &info) || info.height != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char dir[320];
  snprintf(dir, sizeof dir, "%s/%u", base, runs++);
  ag_app *app = NULL;
  if (ag_mkdirs(dir, 0700) || ag_app_open(dir, &app)) abort();
  in_t in = {data, size};
  uint64_t height = get8(&in) % 4; /* 0 is refused */
  uint32_t format = get8(&in) % 8 == 0 ? get8(&in) : AG_SNAPSHOT_FORMAT;
  uint32_t chunks = get8(&in) % 5; /* 0 is refused */
  int lie = get8(&in) % 8 == 0;    /* metadata of another length */
  uint8_t app_hash[32];
  size_t got;
  memcpy(app_hash, take(&in, 32, &got), got);
  memset(app_hash + got, 0, 32 - got);
  /* the chunks: a length byte pair each, then the bytes */
  const uint8_t *chunk[4] = {0};
  size_t len[4] = {0};
  uint8_t *meta = calloc(1, 8 + 32 * 4 + 1);
  ag_put_u64le(meta, get32(&in));
  for (uint32_t i = 0; i < chunks; i++) {
    size_t want = get8(&in) | (size_t)get8(&in) << 8;
    chunk[i] = take(&in, want % 2048, &len[i]);
    ag_hash("agora/snapchunk", chunk[i], len[i], meta + 8 + 32 * i);
  }
  size_t metalen = 8 + 32ull * chunks + (lie ? 1 : 0);
  ag_restore *r = NULL;
  int res = ag_restore_offer(app, height, format, chunks, meta, metalen, app_hash, &r);
  int consistent = format == AG_SNAPSHOT_FORMAT && height > 0 && chunks > 0 && !lie;
  if ((res == AG_OFFER_ACCEPT) != consistent || (res == AG_OFFER_ACCEPT) != (r != NULL)) abort();
  if (format != AG_SNAPSHOT_FORMAT && res != AG_OFFER_REJECT_FORMAT) abort();
  int over = 0;
  char senders[4][8] = {"a", "b", "c", "d"};
  int bad_before[4] = {0};
  uint32_t stop_at = chunks ? get8(&in) % (chunks + 1) : 0; /* below chunks: given up half way */
  for (uint32_t i = 0; r && i < stop_at && !over; i++) {
    int reject = 0, done = 0;
    uint8_t how = get8(&in);
    if (how & 1 && len[i]) { /* first a damaged copy, from a fuzzed sender */
      int s = (how >> 1) & 3;
      uint8_t *bad = malloc(len[i]);
      memcpy(bad, chunk[i], len[i]);
      bad[(how >> 3) % len[i]] ^= (uint8_t)(1 + (how >> 5));
      int rr = ag_restore_apply(r, i, bad, len[i], senders[s], &reject, &done);
      free(bad);
      if (rr != AG_APPLY_RETRY || done || reject != bad_before[s]) abort();
      bad_before[s] = 1;
    }
    res = ag_restore_apply(r, i, chunk[i], len[i], senders[how >> 7], &reject, &done);
    if (reject) abort();
    if (res == AG_APPLY_REJECT_SNAPSHOT) {
      if (done) abort();
      must_be_empty(app);
      over = 1;
    } else if (res != AG_APPLY_ACCEPT || done != (i + 1 == chunks)) {
      abort();
    }
    if (done) { /* the fuzzed records hashed to the fuzzed app hash */
      ag_app_info info;
      if (ag_app_info_get(app, &info) || info.height != height || memcmp(info.app_hash, app_hash, 32)) abort();
      over = 1;
    }
  }
  if (r && !over) { /* given up half way */
    ag_restore_free(r);
    r = NULL;
    must_be_empty(app);
  }
  ag_restore_free(r);
  free(meta);
  ag_app_close(app);
  if (ag_rm_tree(dir)) abort();
  return 0;
}
