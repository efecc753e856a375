/*
 * payment.h — paid requests (docs/economy.md "Paid requests"): the voucher a paying client
 * sends with a request, the receipt a provider signs about what it billed, and the books both
 * sides keep of their channels, on disk, so that a restart neither double-counts nor loses a
 * payment.
 *
 * A client pays before it knows how long the answer will be: with each request it sends a
 * voucher (header X-Agora-Voucher, hex) whose cumulative amount covers what the channel has
 * been billed so far plus this request's most, cost(prompt tokens, max_tokens) at the offer's
 * prices. The provider answers and signs a payment receipt naming the channel, the voucher's
 * sequence, the tokens billed, the prices, the cost and the channel's new billed total; the
 * client checks it against the offer and its own book. The provider redeems the latest voucher
 * on chain for exactly its billed total (a voucher is a ceiling).
 */
#ifndef AG_SUBNETS_PAYMENT_H
#define AG_SUBNETS_PAYMENT_H

#include "core/buf.h"
#include "economy/economy.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#define AG_PAY_HEADER "X-Agora-Voucher"
#define AG_PAY_HEIGHT_SLACK 100

/* {"channel", "seq", "cumulative", "prompt_tokens", "completion_tokens", "price_in_per_1k",
 *  "price_out_per_1k", "cost", "billed", "height", "signature"}; amounts as decimal strings. */
json_t *ag_pay_receipt_json(const ag_pay_receipt *r, const uint8_t sig[64]);
int ag_pay_receipt_parse(json_t *o, ag_pay_receipt *r, uint8_t sig[64]);

/* ---- the provider's book -------------------------------------------------------------------- */

typedef struct {
  ag_channel ch;       /* the chain's record when last read (client, signer, deposit, status) */
  uint64_t billed;     /* total billed on this channel */
  uint64_t reserved;   /* most cost of requests admitted and not billed yet */
  uint64_t seq;        /* last voucher sequence accepted */
  uint64_t claimed;    /* what the chain says was paid, when last read */
  uint8_t voucher[AG_VOUCHER_MAX]; /* the latest voucher accepted (the highest cumulative) */
  size_t voucher_len;
} ag_pay_entry;

typedef struct {
  pthread_mutex_t mu;
  char path[1100];
  struct MDB_env *env; /* the records, one per channel (LMDB, a file at path) */
  unsigned int dbi;
  ag_pay_entry *e;     /* every channel's entry, indexed by a keyed hash of its id */
  size_t n, cap;
  uint32_t *slot;      /* open addressing: entry index + 1, 0 empty; nslot a power of 2 */
  size_t nslot;
  uint8_t key[16];     /* the hash key, random per process (ids can be ground to collide) */
} ag_paybook;

/* Opens the book at path, an LMDB file (created when absent). A book of the earlier format,
 * JSON at legacy (may be NULL), is taken in once and renamed legacy.imported. */
int ag_paybook_open(ag_paybook *b, const char *path, const char *legacy);
void ag_paybook_close(ag_paybook *b);
/* The entry of a channel, or NULL (call with mu held). */
ag_pay_entry *ag_paybook_find(ag_paybook *b, const uint8_t channel[32]);
/* Admits a request paid by voucher v (raw bytes raw) on ch (the chain's record, refreshed
 * by the caller when v asks for more than the deposit it knew): the voucher must be valid for
 * the channel as the provider has seen it (ag_voucher_check against billed + reserved and
 * the last sequence) and cover billed + reserved + max_cost. Then max_cost is reserved and
 * the voucher kept. AG_E_PAY_INSUFFICIENT with *need = the cumulative amount a voucher must
 * reach; the voucher and channel codes otherwise. A channel enters the book only with a
 * voucher it admits. */
int ag_paybook_admit(ag_paybook *b, const char *chain_id, const ag_channel *ch,
                     const ag_voucher *v, const uint8_t *raw, size_t rawlen, uint64_t height,
                     uint64_t max_cost, uint64_t *need);
/* After the answer: cost (≤ max_cost) is billed and the reservation released; the channel's
 * record is committed to disk before the answer leaves. *billed gets the channel's new total. */
int ag_paybook_bill(ag_paybook *b, const uint8_t channel[32], uint64_t max_cost, uint64_t cost,
                    uint64_t *billed);
/* A failed request: the reservation is released, nothing billed. */
void ag_paybook_release(ag_paybook *b, const uint8_t channel[32], uint64_t max_cost);
/* Drops a channel from the book, on disk and in memory (mu held): for a channel the chain
 * has closed, when nothing is running on it. Pointers to entries are stale afterwards. */
int ag_paybook_drop(ag_paybook *b, const uint8_t channel[32]);
/* Commits one entry's record (mu held): billed, seq, claimed and the voucher. The write is
 * one record whatever the number of channels. */
int ag_paybook_store(ag_paybook *b, const ag_pay_entry *e);

/* ---- the client's channel, one file per (provider, model) --------------------------------- */

typedef struct {
  uint8_t channel[32];
  uint8_t provider[32];
  uint8_t model[32];
  uint64_t deposit;    /* as far as this client knows */
  uint64_t billed;     /* what the provider's verified receipts add up to */
  uint64_t signed_max; /* the highest cumulative amount this client signed */
  uint64_t seq;        /* the last sequence this client signed */
} ag_pay_client;

/* HOME/channels/<payer address>-<provider address>-<model id, 16 hex>.json: one channel per
 * payer, provider and model. */
void ag_pay_client_path(const char *home, const uint8_t payer[32], const uint8_t provider[32],
                        const uint8_t model[32], char *out, size_t cap);
/* What a provider's 402 says its book holds (what it billed, the last sequence it took), taken
 * only where it cannot cost the client: billed within what the client signed, and a sequence
 * ahead of the client's by at most AG_PAY_SEQ_CATCHUP (a client restored from an old copy is
 * behind; a lying provider must not wrap the client's next sequence past 2^64). 1 when
 * either moved. */
#define AG_PAY_SEQ_CATCHUP 1000000u
int ag_pay_client_catch_up(ag_pay_client *c, uint64_t billed, uint64_t seq);
/* AG_E_NOTFOUND when there is none yet. */
int ag_pay_client_load(const char *path, ag_pay_client *c);
int ag_pay_client_save(const char *path, const ag_pay_client *c);
/* Checks a provider's payment receipt for the request the client just paid with voucher (seq,
 * cumulative): signature by hotkey, the channel, the sequence, the cost at the offer for the
 * tokens the answer reports, that billed = the client's billed + cost ≤ cumulative, and that
 * the receipt's height is within AG_PAY_HEIGHT_SLACK blocks of height (the chain's, as the
 * client last read it): the receipt's height starts its dispute window.
 * AG_E_PAY_RECEIPT with the reason. */
int ag_pay_client_check(const ag_pay_client *c, const ag_offer *offer, const uint8_t hotkey[32],
                        const uint8_t request_hash[32], uint64_t seq, uint64_t cumulative,
                        uint64_t n_in, uint64_t n_out, uint64_t height, json_t *payment,
                        ag_pay_receipt *out);

#endif
