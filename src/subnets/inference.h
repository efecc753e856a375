/*
 * inference.h — the inference subnet's protocol (docs/subnet-inference.md): OpenAI-compatible
 * requests and responses, the proof a miner attaches to every answer, and how anyone checks it.
 *
 * A miner answers POST /v1/completions and /v1/chat/completions like an OpenAI server and adds
 * one field, "agora": {request_hash, model_id, receipt (base64), commitment, hotkey,
 * signature}. The signature is ed25519 by the miner's hotkey over
 *   BLAKE2b-256("agora/infsig", hotkey ‖ request_hash ‖ BLAKE2b-256("agora/inftext", text) ‖
 *               commitment ‖ BLAKE2b-256("agora/receipt", receipt))
 * where request_hash = BLAKE2b-256("agora/infreq", the request body as sent). The receipt
 * (engine/generate.h) names the model, the sampling parameters, the prompt and output tokens
 * and the committed logits; re-executing it with the same model gives the same bits.
 *
 * The work is the miner's own: a request with a seed is sampled with the miner's bound seed
 * (ag_inf_bound_seed: a hash of the miner's hotkey and the seed), so the tokens themselves
 * depend on who computed them. Another miner's answer to the same request, relayed and
 * re-signed, has the other miner's tokens, and re-keying it means generating it again.
 *
 * Ownership: parsed requests own their strings (ag_inf_request_free); JSON results are new
 * references.
 */
#ifndef AG_SUBNETS_INFERENCE_H
#define AG_SUBNETS_INFERENCE_H

#include "core/buf.h"
#include "economy/economy.h"
#include "engine/engine.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define AG_INF_MAX_STOPS 4

typedef struct {
  bool chat;              /* /v1/chat/completions */
  char model[128];
  char *prompt;           /* the completion prompt, or the rendered chat transcript (owned) */
  json_t *messages;       /* chat: the request's messages (owned reference), else NULL */
  int max_tokens;         /* >= 1 */
  double temperature;     /* 0..2 (OpenAI's range) */
  double top_p;           /* (0, 1] */
  int top_k;              /* extension; 0 = off */
  double frequency_penalty; /* -2..2 (OpenAI's), 0 = off */
  double presence_penalty;  /* -2..2, 0 = off */
  uint64_t seed;
  bool has_seed;
  bool stream;
  bool include_usage;     /* stream_options.include_usage */
  char *stops[AG_INF_MAX_STOPS];
  int nstop;
} ag_inf_request;

/* Parses a request body. On error returns an AG_E_* code with a message and sets *param to the
 * offending field ("messages", "max_tokens", ...) or NULL. OpenAI parameters that would change
 * the answer but that miners do not serve (logit_bias, logprobs, response_format other than
 * text, tools, echo, ...) are refused when set to anything but their neutral value; other
 * unknown fields are ignored. */
int ag_inf_request_parse(bool chat, const uint8_t *body, size_t len, ag_inf_request *r,
                         const char **param);
void ag_inf_request_free(ag_inf_request *r);
/* The chat template: "System: …\nUser: …\nAssistant: …\n…Assistant:" (content strings or
 * text parts). */
int ag_inf_render_chat(json_t *messages, ag_buf *out, const char **param);

/* The prompt ids a request means for model m: a GGUF model's chat through its own template
 * (ag_engine_chat_text), everything else through ag_engine_encode of prompt. */
int ag_inf_prompt_ids(const ag_model *m, const ag_inf_request *r, uint32_t **ids, size_t *n);

/* Sampling parameters of a request (seed must be set). */
void ag_inf_sampling(const ag_model *m, const ag_inf_request *r, ag_sampling *sp);

void ag_inf_request_hash(const void *body, size_t len, uint8_t out[32]);
/* The seed a miner samples a request with seed s: the first 8 bytes (little-endian) of
 * BLAKE2b-256("agora/infseed", hotkey ‖ s u64), the top bit cleared. Per miner, the same seed
 * still gives the same answer (streamed or not), as OpenAI's seed promises. */
uint64_t ag_inf_bound_seed(const uint8_t hotkey[32], uint64_t seed);
void ag_inf_sig_message(const uint8_t hotkey[32], const uint8_t request_hash[32], const void *text,
                        size_t tlen, const uint8_t commitment[32], const uint8_t *receipt,
                        size_t rlen, uint8_t out[32]);
/* What a validator signs to mark a request as its challenge (headers X-Agora-Validator and
 * X-Agora-Signature): BLAKE2b-256("agora/infchal", request_hash). */
void ag_inf_challenge_message(const uint8_t request_hash[32], uint8_t out[32]);
/* Cuts text at the first stop string; 1 if one was found. */
int ag_inf_apply_stops(const ag_inf_request *r, ag_buf *text);
/* The text of output tokens: their bytes (<|endoftext|> dropped), made valid UTF-8 (each
 * invalid byte and each NUL becomes U+FFFD; with partial = 1 an incomplete sequence at the end is left out,
 * to be completed by later tokens), then cut at the first stop string. Miners answer with
 * exactly this text and verifiers recompute it. *stopped (may be NULL) says a stop cut it. */
int ag_inf_text(const ag_model *m, const uint32_t *toks, int n, const ag_inf_request *r,
                int partial, ag_buf *out, int *stopped);

/* The short model name miners publish for a model id: "agora-" + 12 hex digits. */
void ag_inf_model_name(const uint8_t id[32], char out[32]);

/* What a client concluded about an answer. */
typedef struct {
  int ok;                 /* 1 when every check passed */
  int code;               /* the first failure: AG_E_* */
  char why[256];
  char text[4096];        /* the answer's text (possibly cut) */
  int n_prompt, n_out;
  char finish[8];         /* why it ended, as the receipt shows: "stop" (the stop token or a
                             stop string) or "length" (max_tokens or the context's end) */
  double verify_seconds;  /* re-execution time */
  uint8_t receipt_hash[32]; /* BLAKE2b-256("agora/receipt", receipt), once it decoded */
} ag_inf_verdict;

/* Checks a non-streamed response to body (parsed as req) from the miner with hotkey: the
 * signature, the request hash, that the receipt is for model m with the requested prompt and
 * sampling, that the text is the receipt's output, and (when state is not NULL) the receipt
 * itself by re-execution with state's model. Fills v; returns v->code (0 when honest). */
int ag_inf_verify(ag_infer *state, const ag_model *m, const uint8_t *body, size_t blen,
                  const ag_inf_request *req, json_t *resp, const uint8_t hotkey[32],
                  ag_inf_verdict *v);

/* A dispute committee member's vote on evidence e (docs/economy.md "Disputes"): the hash
 * BLAKE2b-256("agora/inftext", text) of the answer model m gives the request, generated here
 * and sampled as the provider had to (a seeded request with its bound seed, else the seed its
 * receipt names), and the digest of that work: BLAKE2b-256("agora/dwork", case id | every
 * logit (f32 bits, little-endian) of every position that chose an output token), which every
 * member who ran the model finds the same and which no receipt holds (a receipt keeps at most
 * 64 logits per position). The member reveals ag_dispute_work(digest, round), never the digest.
 * A body no miner may answer (it does not parse, or its prompt fills the context) votes 32 zero
 * bytes (digest zeros). Evidence without its receipt of a sampled request without a seed
 * cannot be judged (the seed is in the receipt): AG_E_DISPUTE_EVIDENCE, and the member
 * abstains. state must be open on m. */
int ag_inf_dispute_vote(ag_infer *state, const ag_model *m, const ag_evidence *e, uint8_t vote[32],
                        uint8_t digest[32]);

#endif
