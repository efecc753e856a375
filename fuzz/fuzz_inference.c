/*
 * fuzz_inference.c — what the inference subnet parses from the network: OpenAI request bodies
 * (completions and chat, as miners parse them), miners' answers with their proofs (as
 * validators and `agora infer` check them, up to but not including re-execution), and the
 * receipts inside them. The first input byte picks the parser.
 */
#include "core/codec.h"
#include "crypto/keys.h"
#include "engine/engine.h"
#include "subnets/inference.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static ag_model *model;
static const char body[] = "{\"model\":\"agora-baec3a6ba9e5\",\"prompt\":\"Once upon a time\",\"max_tokens\":12,\"seed\":7}";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  if (ag_model_load(AGORA_SRC_DIR "/models/agora-nano.bin", &model, NULL)) abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t sel = data[0];
  data++;
  size--;
  if (sel < 96) { /* a request body */
    ag_inf_request r;
    const char *param;
    if (ag_inf_request_parse(sel & 1, data, size, &r, &param) == 0) {
      ag_sampling sp;
      ag_inf_sampling(&r, &sp);
      ag_buf text;
      ag_buf_init(&text);
      ag_buf_puts(&text, r.prompt);
      ag_inf_apply_stops(&r, &text);
      ag_buf_free(&text);
      ag_inf_request_free(&r);
    }
  } else if (sel < 224) { /* an answer to the fixed request, signed by the hotkey it names */
    ag_inf_request r;
    const char *param;
    if (ag_inf_request_parse(false, (const uint8_t *)body, strlen(body), &r, &param)) abort();
    json_t *resp = json_loadb((const char *)data, size, 0, NULL);
    if (resp) {
      uint8_t hk[32] = {0};
      const char *addr = json_string_value(json_object_get(json_object_get(resp, "agora"), "hotkey"));
      if (addr) (void)ag_addr_decode(addr, hk);
      ag_inf_verdict v;
      (void)ag_inf_verify(NULL, model, (const uint8_t *)body, strlen(body), &r, resp, hk, &v);
      json_decref(resp);
    }
    ag_inf_request_free(&r);
  } else { /* output tokens as text, and raw receipts */
    ag_receipt rc;
    (void)ag_receipt_parse(data, size, &rc);
    ag_inf_request r;
    const char *param;
    static const char stops[] = "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":[\"a\",\"\\n\"]}";
    if (ag_inf_request_parse(false, (const uint8_t *)stops, strlen(stops), &r, &param)) abort();
    size_t n = size / 2;
    uint32_t *toks = malloc((n + 1) * sizeof *toks);
    for (size_t i = 0; i < n; i++) toks[i] = (uint32_t)(data[2 * i] | data[2 * i + 1] << 8) % (uint32_t)model->cfg.vocab_size;
    ag_buf out;
    ag_buf_init(&out);
    int stopped;
    (void)ag_inf_text(model, toks, (int)n, &r, sel & 1, &out, &stopped);
    ag_buf_free(&out);
    free(toks);
    ag_inf_request_free(&r);
  }
  return 0;
}
