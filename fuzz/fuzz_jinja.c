/* fuzz_jinja.c — chat templates from untrusted GGUF files: any bytes either parse or fail with
 * an error, and a parsed template renders or fails within its bounds (jinja.h), with
 * conversations that themselves contain template syntax. */
#include "core/err.h"
#include "core/util.h"
#include "engine/jinja.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ag_jinja *t = NULL;
  if (ag_jinja_parse((const char *)data, size, &t)) return 0;
  json_t *vars = json_pack("{s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}],s:b,s:s,s:s,s:[i,i,i]}", "messages", "role", "system",
                           "content", "Be {{ brief }}.", "role", "user", "content", "Hi {% if %}", "role",
                           "assistant", "content", "", "add_generation_prompt", 1, "bos_token", "<s>",
                           "eos_token", "</s>", "nums", 1, -2, 3);
  ag_buf out;
  ag_buf_init(&out);
  size_t before = out.len;
  if (ag_jinja_render(t, vars, &out) && out.len != before) __builtin_trap(); /* a failed render leaves nothing */
  if (out.len > AG_JINJA_MAX_OUT) __builtin_trap();
  ag_buf_free(&out);
  json_decref(vars);
  ag_jinja_free(t);
  return 0;
}
