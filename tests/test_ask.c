/* test_ask.c — `agora ask`'s understanding, measured on tests/ask/suite.json: 156 sentences of
 * our own (plain and varied phrasings, typos, amounts with and without units, bad amounts,
 * names from the book and unknown ones, several actions, questions that must be asked back,
 * injected instructions, other languages, chit-chat), each through the real instruct model
 * (SmolLM2-135M-Instruct, as scripts/bootstrap installs it) under the grammar, then the
 * resolver. Asserts what must never happen, on every sentence: an action naming an address
 * that is not a key or a contact, a model-written name or amount that is not in the sentence,
 * an action beside a question. Reports the exact-match rate (actions equal, or a question
 * where one is expected) and holds it at the level measured (the target of 0.95 is
 * tracked in docs/benchmarks.md as agent.ask_exact_match). AGORA_ASK_ONLY=N runs case N;
 * AGORA_ASK_VERBOSE=1 prints every miss. */
#include "test.h"
#include "testutil.h"

#include "core/err.h"
#include "core/util.h"
#include "subnets/intent.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MODEL AGORA_SRC_DIR "/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
#define SUITE (getenv("AGORA_ASK_SUITE") ? getenv("AGORA_ASK_SUITE") : AGORA_SRC_DIR "/tests/ask/suite.json")
/* Measured 0.962 (150 of 156) on 2026-12-05 (0.900 on tests/ask/heldout.json); the floor keeps
 * it from sliding back. */
#define MIN_RATE 0.95

/* Under the sanitizers the model is ~16x slower: one sentence of the suite there, all of it in
 * test_ask_suite (the same code built without them; tests/CMakeLists.txt). */
#if defined(AGORA_ASK_FULL)
#define SAMPLE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SAMPLE 1000 /* one sentence: the decoder under the sanitizers; the cache test decodes too */
#endif
#endif
#ifndef SAMPLE
#define SAMPLE 1
#endif

static ag_intent_name names[16];
static int nnames;

/* Under the sanitizers the prompt cache test runs first and leaves its file here, and the
 * suite loads it instead of computing the prompt a second time (half a minute there). */
static char *kept_cache;

static const uint8_t *pk_of(const char *name) {
  for (int i = 0; i < nnames; i++)
    if (!strcasecmp(names[i].name, name)) return names[i].pk;
  return NULL;
}

/* The expected action with names made addresses (what the resolver must give). */
static json_t *expected(json_t *e, const char *me) {
  json_t *o = json_deep_copy(e);
  const char *keys[] = {"to", "hotkey", "provider", "agent", "address"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    const char *n = json_string_value(json_object_get(o, keys[i]));
    const uint8_t *pk = n ? pk_of(n) : NULL;
    if (pk) {
      char addr[AG_ADDR_MAX];
      ag_addr_encode(pk, addr);
      json_object_set_new(o, keys[i], json_string(addr));
    }
  }
  const char *k = json_string_value(json_object_get(o, "kind"));
  if (strcmp(k, "balance") && strcmp(k, "stake_info") && strcmp(k, "metagraph")) {
    char addr[AG_ADDR_MAX];
    ag_addr_encode(pk_of(me), addr);
    json_object_set_new(o, "from", json_string(addr));
  }
  return o;
}

/* Every value the model wrote for a name or an amount is "me", "none", "all" or in the sentence. */
static int copied_only(json_t *intent, const char *s) {
  json_t *as = json_object_get(intent, "actions");
  for (size_t i = 0; i < json_array_size(as); i++) {
    const char *k;
    json_t *v;
    json_object_foreach(json_array_get(as, i), k, v) {
      const char *x = json_string_value(v);
      if (!strcmp(k, "action") || !strcmp(k, "unit") || !x) continue;
      if (!strcmp(x, "me") || !strcmp(x, "none") || !strcmp(x, "all")) continue;
      if (!strstr(s, x)) return 0;
    }
  }
  return 1;
}

TEST(the_suite_is_understood_and_nothing_is_invented) {
  if (access(MODEL, R_OK)) {
    fprintf(stderr, "  skipped: %s is not installed (scripts/bootstrap models)\n", MODEL);
    return;
  }
  json_t *suite = json_load_file(SUITE, 0, NULL);
  CHECK(suite != NULL);
  if (!suite) return;
  unsigned seed = 7000;
  json_t *v;
  size_t i;
  json_array_foreach(json_object_get(suite, "keys"), i, v) {
    ag_keypair k;
    test_key(&k, seed++);
    names[nnames].name = json_string_value(v);
    memcpy(names[nnames].pk, k.pk, 32);
    names[nnames++].is_key = 1;
  }
  json_array_foreach(json_object_get(suite, "contacts"), i, v) {
    ag_keypair k;
    test_key(&k, seed++);
    names[nnames].name = json_string_value(v);
    memcpy(names[nnames++].pk, k.pk, 32);
  }
  ag_intent_book book = {names, nnames, "dev1", {0}};
  memcpy(book.me_pk, pk_of("dev1"), 32);
  ag_intent_model *im;
  CHECK_OK(ag_intent_open(MODEL, 2, SAMPLE == 1 ? NULL : kept_cache, &im));
  json_t *cases = json_object_get(suite, "cases");
  const char *only = getenv("AGORA_ASK_ONLY");
  int n = 0, exact = 0, invented = 0;
  double secs = 0;
  json_array_foreach(cases, i, v) {
    if (only ? (size_t)atoi(only) != i : i % SAMPLE != 0) continue;
    const char *s = json_string_value(json_object_get(v, "s"));
    ag_buf out;
    ag_buf_init(&out);
    ag_intent_stats st;
    int rc = ag_intent_decode(im, s, &out, &st);
    json_t *intent = rc ? NULL : json_loadb((const char *)out.data, out.len, 0, NULL), *acts = NULL, *qs = NULL;
    if (rc) { /* refused before the model: a question in effect (empty, too long, no words) */
      acts = json_array();
      qs = json_pack("[s]", ag_errmsg(rc));
    } else {
      CHECK(intent != NULL); /* valid by construction */
      CHECK_OK(ag_intent_resolve(intent, s, &book, &acts, &qs));
      if (!copied_only(intent, s)) invented++, fprintf(stderr, "  INVENTED in case %zu: %.*s\n", i, (int)out.len, out.data);
    }
    secs += st.seconds;
    n++;
    /* never an address outside the book; never an action beside a question */
    CHECK(!json_array_size(qs) || !json_array_size(acts));
    json_t *a;
    size_t j;
    json_array_foreach(acts, j, a) {
      const char *ks[] = {"to", "hotkey", "provider", "agent", "address", "from"};
      for (size_t m = 0; m < sizeof ks / sizeof ks[0]; m++) {
        const char *addr = json_string_value(json_object_get(a, ks[m]));
        uint8_t pk[32];
        int known = 0;
        if (!addr) continue;
        CHECK_OK(ag_addr_decode(addr, pk));
        for (int b = 0; b < nnames; b++) known |= !memcmp(names[b].pk, pk, 32);
        if (!known) invented++;
      }
    }
    int ok;
    if (json_is_true(json_object_get(v, "ask"))) ok = json_array_size(qs) > 0;
    else {
      json_t *want = json_array(), *e;
      size_t k;
      json_array_foreach(json_object_get(v, "expect"), k, e) json_array_append_new(want, expected(e, "dev1"));
      ok = json_equal(want, acts) && !json_array_size(qs);
      json_decref(want);
    }
    exact += ok;
    if (!ok && getenv("AGORA_ASK_VERBOSE")) {
      char *x = json_dumps(qs, 0);
      fprintf(stderr, "  miss %zu: %s\n    intent %.*s\n    questions %s\n", i, s, (int)out.len, out.data, x);
      free(x);
    }
    json_decref(intent);
    json_decref(acts);
    json_decref(qs);
    ag_buf_free(&out);
  }
  ag_intent_close(im);
  if (kept_cache) test_rmdir(kept_cache);
  kept_cache = NULL;
  double rate = n ? (double)exact / n : 0;
  fprintf(stderr, "  agent.ask_exact_match %.3f (%d of %d sentences), %.2f s per sentence with the prompt cached\n", rate,
          exact, n, n ? secs / n : 0);
  CHECK_EQ(invented, 0);
  if (!only && SAMPLE == 1 && !getenv("AGORA_ASK_SUITE")) {
    CHECK(n >= 150);
    CHECK(rate >= MIN_RATE);
  }
  json_decref(suite);
}

TEST(bad_input_is_refused_before_the_model) {
  ag_intent_book book = {NULL, 0, NULL, {0}};
  json_t *acts, *qs;
  /* the resolver alone: vague, negative, over-precise, unknown-unit amounts, and no signer */
  const char *cases[][2] = {
      {"send everything to alice", "{\"actions\":[{\"action\":\"send\",\"to\":\"alice\",\"amount\":\"all\",\"unit\":\"none\"}]}"},
      {"send -5 AGR", "{\"actions\":[{\"action\":\"send\",\"to\":\"me\",\"amount\":\"-5\",\"unit\":\"AGR\"}]}"},
      {"send 5.0000000001 AGR", "{\"actions\":[{\"action\":\"send\",\"to\":\"me\",\"amount\":\"5.0000000001\",\"unit\":\"AGR\"}]}"},
      {"send 1e9 AGR", "{\"actions\":[{\"action\":\"send\",\"to\":\"me\",\"amount\":\"1e9\",\"unit\":\"AGR\"}]}"},
      {"send 5 BTC", "{\"actions\":[{\"action\":\"send\",\"to\":\"me\",\"amount\":\"5\",\"unit\":\"none\"}]}"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *in = json_loads(cases[i][1], 0, NULL);
    CHECK_OK(ag_intent_resolve(in, cases[i][0], &book, &acts, &qs));
    CHECK_EQ(json_array_size(acts), 0);
    CHECK(json_array_size(qs) > 0);
    json_decref(in);
    json_decref(acts);
    json_decref(qs);
  }
  if (access(MODEL, R_OK)) return;
  ag_intent_model *im;
  CHECK_OK(ag_intent_open(MODEL, 1, NULL, &im));
  char *big = malloc(10001);
  memset(big, 'a', 10000);
  big[10000] = 0;
  ag_buf out;
  ag_buf_init(&out);
  CHECK_EQ(ag_intent_decode(im, "", &out, NULL), AG_E_INVALID);
  CHECK_EQ(ag_intent_decode(im, big, &out, NULL), AG_E_INVALID);
  CHECK_EQ(ag_intent_decode(im, "12 34 !!", &out, NULL), AG_E_INVALID);
  CHECK_EQ(ag_intent_decode(im, "send\x01 5", &out, NULL), AG_E_INVALID);
  CHECK_EQ(out.len, 0);
  free(big);
  ag_buf_free(&out);
  ag_intent_close(im);
}

/* The prompt's fixed part computed once and kept on disk: a new process that loads it decodes
 * the same intents as one that computes everything, and a damaged file is computed again. */
static int decode_with(const char *cache, const char *s, ag_buf *out) {
  ag_intent_model *im;
  ag_intent_stats st;
  CHECK_OK(ag_intent_open(MODEL, 2, cache, &im));
  ag_buf_init(out);
  CHECK_OK(ag_intent_decode(im, s, out, &st));
  ag_intent_close(im);
  return st.prefix_loaded;
}

TEST(the_prompt_cache_changes_no_intent) {
  if (access(MODEL, R_OK)) return;
  const char *s = "please send 2.5 AGR to carol and stake 1 AGR on dev3";
  char *dir = test_tmpdir("askcache");
  ag_buf made, loaded;
  CHECK_EQ(decode_with(dir, s, &made), 0);   /* computes and writes the file */
  CHECK_EQ(decode_with(dir, s, &loaded), 1); /* reads it */
  CHECK(made.len > 0 && made.len == loaded.len && !memcmp(made.data, loaded.data, made.len));
  if (SAMPLE == 1) { /* two more cold prompts: only where the model runs at full speed */
    ag_buf plain, redone;
    CHECK_EQ(decode_with(NULL, s, &plain), 0);
    CHECK(plain.len == made.len && !memcmp(plain.data, made.data, plain.len));
    /* a damaged file: refused by its checksum, computed again, same intent */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "for f in %s/ask-*.kv; do printf 'X' | dd of=$f bs=1 seek=5000 conv=notrunc 2>/dev/null; done", dir);
    CHECK_EQ(system(cmd), 0);
    CHECK_EQ(decode_with(dir, s, &redone), 0);
    CHECK(redone.len == plain.len && !memcmp(plain.data, redone.data, plain.len));
    ag_buf_free(&plain);
    ag_buf_free(&redone);
  }
  ag_buf_free(&made);
  ag_buf_free(&loaded);
  if (SAMPLE == 1) test_rmdir(dir);
  else kept_cache = dir; /* for the suite, which runs next */
}

TEST_MAIN(bad_input_is_refused_before_the_model, the_prompt_cache_changes_no_intent,
          the_suite_is_understood_and_nothing_is_invented)
