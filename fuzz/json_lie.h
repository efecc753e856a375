/* json_lie.h — a node that lies (fuzz_buyer, fuzz_neuron_node): one value of a JSON answer,
 * anywhere in it, replaced by one the input chooses, read from an in_t (fuzz_input.h). */
#ifndef AG_FUZZ_JSON_LIE_H
#define AG_FUZZ_JSON_LIE_H

#include "api/http.h"
#include "fuzz_input.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A string of up to 16 input bytes (U+FFFD where they are not valid UTF-8). */
__attribute__((unused)) static json_t *json_lie_string(in_t *in) {
  size_t n;
  const uint8_t *p = take(in, get8(in) % 17, &n);
  json_t *s = json_stringn((const char *)p, n);
  return s ? s : json_string("\xef\xbf\xbd");
}

/* What replaces was: null, negative, huge, a number past 2^64 as a string, a string, an
 * array of its first row by thousands (rows of a kilobyte at most, so that lies on lies stay
 * small), an object. */
__attribute__((unused)) static json_t *json_lie_value(json_t *was, in_t *in) {
  uint8_t k = get8(in);
  switch (k % 10) {
  case 0: return json_null();
  case 1: return json_integer(-1 - (json_int_t)get8(in));
  case 2: return json_integer(INT64_MAX);
  case 3: return json_real(1e300);
  case 4: return json_string("18446744073709551615");
  case 5: return json_string("340282366920938463463374607431768211456");
  case 6: return json_lie_string(in);
  case 7: {
    json_t *row = json_is_array(was) && json_array_size(was) ? json_array_get(was, 0) : was;
    char *t = row ? json_dumps(row, JSON_ENCODE_ANY) : NULL;
    bool small = t && strlen(t) < 1024;
    free(t);
    json_t *a = json_array();
    for (int i = 0, n = small ? 1 + (int)(get8(in) % 3) * 4000 : 1; i < n; i++)
      json_array_append_new(a, row ? json_deep_copy(row) : json_null());
    return a;
  }
  case 8: return json_integer((json_int_t)get32(in));
  default: return json_object();
  }
}

/* Replaces one value of o, reached by up to four steps the input chooses. */
__attribute__((unused)) static void json_lie(json_t *o, in_t *in) {
  json_t *parent = NULL, *at = o;
  const char *key = NULL;
  size_t idx = 0;
  for (int depth = 0, steps = 1 + get8(in) % 4; depth < steps; depth++) {
    if (json_is_object(at) && json_object_size(at)) {
      size_t want = get8(in) % json_object_size(at), i = 0;
      const char *k;
      json_t *v;
      json_object_foreach(at, k, v) {
        if (i++ == want) {
          parent = at, key = k, at = v;
          break;
        }
      }
    } else if (json_is_array(at) && json_array_size(at)) {
      idx = get8(in) % json_array_size(at);
      parent = at, key = NULL, at = json_array_get(at, idx);
    } else {
      break;
    }
  }
  if (!parent) return;
  json_t *v = json_lie_value(at, in);
  if (key) json_object_set_new(parent, key, v);
  else json_array_set_new(parent, idx, v);
}

/* A node's answer o, 200: told as it is, or with lie set with one to three values replaced
 * (json_lie) as the input says. */
__attribute__((unused)) static void fuzz_node_answer(ag_http_resp *resp, json_t *o, bool lie, in_t *in) {
  for (int i = 0, n = lie ? 1 + get8(in) % 3 : 0; i < n; i++) json_lie(o, in);
  ag_http_json(resp, 200, o);
}

#endif
