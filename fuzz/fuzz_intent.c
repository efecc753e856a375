/* fuzz_intent.c — agora ask's grammar and resolver without the model: for any sentence (the
 * input up to its first NUL), every intent the grammar admits (steered by the rest of the
 * input) is valid JSON whose names and amounts are words of the sentence, and the resolver
 * turns it into actions naming only the book's addresses, or questions, never both. */
#include "core/err.h"
#include "core/util.h"
#include "crypto/keys.h"
#include "subnets/intent.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  size_t slen = nul ? (size_t)(nul - data) : size;
  char *sentence = ag_xmalloc(slen + 1);
  memcpy(sentence, data, slen);
  sentence[slen] = 0;
  const uint8_t *choices = nul ? nul + 1 : data + size;
  size_t nchoices = nul ? size - slen - 1 : 0;
  ag_buf out;
  ag_buf_init(&out);
  if (ag_intent_grammar_sample(sentence, choices, nchoices, &out) == 0) {
    json_t *intent = json_loadb((const char *)out.data, out.len, 0, NULL);
    if (!intent) __builtin_trap(); /* valid by construction */
    json_t *as = json_object_get(intent, "actions");
    if (!json_array_size(as) || json_array_size(as) > AG_INTENT_MAX_ACTIONS) __builtin_trap();
    for (size_t i = 0; i < json_array_size(as); i++) {
      const char *k;
      json_t *v;
      json_object_foreach(json_array_get(as, i), k, v) {
        const char *x = json_string_value(v);
        if (!x) __builtin_trap();
        if (!strcmp(k, "action") || !strcmp(k, "unit") || !strcmp(x, "me") || !strcmp(x, "none") || !strcmp(x, "all"))
          continue;
        if (!strstr(sentence, x)) __builtin_trap(); /* a name, amount or prompt from elsewhere */
      }
    }
    static const char *const book_names[] = {"alice", "bob", "dev1", "5", "me"};
    ag_intent_name names[5];
    for (int i = 0; i < 5; i++) {
      names[i].name = book_names[i];
      memset(names[i].pk, 0x11 * (i + 1), 32);
      names[i].is_key = i == 2;
    }
    ag_intent_book book = {names, 5, "dev1", {0}};
    memcpy(book.me_pk, names[2].pk, 32);
    json_t *acts = NULL, *qs = NULL;
    if (ag_intent_resolve(intent, sentence, &book, &acts, &qs)) __builtin_trap();
    if (json_array_size(acts) && json_array_size(qs)) __builtin_trap();
    if (!json_array_size(acts) && !json_array_size(qs)) __builtin_trap();
    const char *fields[] = {"to", "hotkey", "provider", "agent", "address", "from"};
    for (size_t i = 0; i < json_array_size(acts); i++)
      for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        const char *addr = json_string_value(json_object_get(json_array_get(acts, i), fields[f]));
        uint8_t pk[32];
        int known = 0;
        if (!addr) continue;
        if (ag_addr_decode(addr, pk)) __builtin_trap();
        for (int b = 0; b < 5; b++) known |= !memcmp(names[b].pk, pk, 32);
        if (!known) __builtin_trap();
      }
    json_decref(acts);
    json_decref(qs);
    json_decref(intent);
  }
  ag_buf_free(&out);
  free(sentence);
  return 0;
}
