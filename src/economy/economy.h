/*
 * economy.h — paying for AI on chain (docs/economy.md): unidirectional payment channels with
 * signed cumulative vouchers, so a client pays a provider per request off chain and the
 * provider redeems the latest voucher whenever it likes.
 *
 * A channel escrows the client's deposit in a ledger record. The client signs vouchers
 * (channel, cumulative amount, sequence; chain id inside, domain-separated) with the
 * channel's signer key; the provider claims a voucher's delta over what it already redeemed.
 * The client may top up; it closes in two steps (a request, then after the settle delay the
 * refund), and the provider may claim until the delay ends; the provider closes at once.
 * Past an optional expiry height a channel takes no claims and no top-ups and either party
 * closes it at once. A voucher is never paid twice, beyond the deposit, after close, or on
 * another channel or chain.
 *
 * Everything here runs in the deterministic state machine: integers only.
 * Σ balances + Σ stake + … + Σ (deposit − claimed) of unclosed channels + burned = issued.
 */
#ifndef AG_ECONOMY_H
#define AG_ECONOMY_H

#include "chain/app.h"
#include "chain/state.h"
#include "chain/tx.h"

#include <stdint.h>

/* ---- tx kinds (docs/economy.md gives every payload byte by byte) --------------------------- */
enum {
  AG_TX_CHANNEL_OPEN = 30,  /* client: provider[32] | signer[32] | model[32] | deposit u64 |
                               settle_delay u64 | expiry u64 */
  AG_TX_CHANNEL_FUND = 31,  /* client: channel[32] | amount u64 */
  AG_TX_CHANNEL_CLAIM = 32, /* provider: flags u8 (1 = close after) | amount u64 (the channel's
                               new total paid, ≤ the voucher's; 0 = the voucher's) | voucher */
  AG_TX_CHANNEL_CLOSE = 33, /* client or provider: channel[32] */
  AG_TX_OFFER_POST = 34,    /* hotkey's coldkey: hotkey[32] | model[32] | price_in u64 |
                               price_out u64 | max_tokens u32 | bond u64 */
  AG_TX_OFFER_REMOVE = 35,  /* hotkey's coldkey: hotkey[32] | model[32] */
  AG_TX_BOND_UNBOND = 36,   /* bond's coldkey: hotkey[32] | amount u64 */
  AG_TX_BOND_WITHDRAW = 37, /* bond's coldkey: hotkey[32] */
  AG_TX_ASSET_REGISTER = 38, /* owner: kind u8 | id[32] | royalty_bps u16 | supply u64 |
                                n u8 | n × (parent[32] | bps u16) */
  AG_TX_ASSET_ROYALTY = 39,  /* owner: id[32] | royalty_bps u16 */
  AG_TX_SHARE_TRANSFER = 40, /* holder: asset[32] | to[32] | amount u64 */
  AG_TX_SHARE_CLAIM = 41,    /* asset[32] | holder[32]: the holder itself, or anyone for a
                                holder that is an asset */
  AG_TX_DISPUTE_OPEN = 42,   /* challenger: netuid u16 | bond u64 | evidence (dispute.c) */
  AG_TX_DISPUTE_COMMIT = 43, /* committee hotkey: case[32] | commit[32] */
  AG_TX_DISPUTE_REVEAL = 44, /* committee hotkey: case[32] | vote[32] | salt[32] */
  AG_TX_AGENT_KEY_SET = 45,    /* account: agent[32] | terms (agent.c) */
  AG_TX_AGENT_KEY_REVOKE = 46, /* the account or the key: account[32] | agent[32] */
  AG_TX_AGENT_FREEZE = 47,     /* account: frozen u8 */
  AG_TX_AGENT_EXEC = 48,       /* agent key: account[32] | kind u16 | that kind's payload */
  AG_TX_CHANNEL_CLAIMS = 49,   /* provider: n u16 (1..AG_CLAIMS_MAX) | n × (a channel_claim's
                                  payload); all or none */
};

#define AG_CLAIMS_MAX 256

enum { AG_ASSET_MODEL = 1, AG_ASSET_DATASET = 2 };

#define AG_MAX_PARENTS 8
#define AG_MAX_ANCESTORS 16
#define AG_MAX_HOLDERS 1024

/* An asset: a model or dataset by content hash, with a fixed supply of shares and a vault that
 * pays its holders through a per-share accumulator (Q64.64) whose division remainder is
 * carried, so no base unit is ever lost to rounding and a claim costs O(1). */
typedef struct {
  uint8_t id[32];
  uint8_t kind;          /* AG_ASSET_* */
  uint8_t owner[32];     /* sets the royalty rate */
  uint16_t royalty_bps;  /* of each channel claim for this model, into the vaults */
  uint64_t supply;       /* shares, fixed */
  uint64_t balance;      /* the vault: what holders can still claim, plus the carry */
  unsigned __int128 acc; /* Σ income × 2^64 / supply so far */
  uint64_t carry;        /* (income × 2^64 + carry) mod supply, carried to the next income */
  uint64_t income;       /* everything the vault ever received */
  uint8_t nanc;
  struct {
    uint8_t id[32];
    uint16_t bps;        /* of every income of this asset, to that ancestor's vault */
  } anc[AG_MAX_ANCESTORS];
} ag_asset;

typedef struct {
  uint8_t holder[32];    /* an account, or an asset (is_asset) */
  uint8_t is_asset;
  uint64_t shares;
  unsigned __int128 snap; /* the asset's acc when last settled */
  unsigned __int128 owed; /* Q64.64: accrued and not paid; floored only when paid */
} ag_holding;

enum { AG_CHANNEL_OPEN = 0, AG_CHANNEL_CLOSING = 1, AG_CHANNEL_CLOSED = 2 };

#define AG_CLAIM_CLOSE 1

/* Chain-wide parameters, from the "economy" section of genesis.json. */
typedef struct {
  uint64_t min_deposit;      /* smallest opening deposit, base units (0.001 AGR) */
  uint64_t min_settle_delay; /* blocks (10) */
  uint64_t max_settle_delay; /* blocks (1,000,000) */
  uint64_t min_bond;         /* a provider's bond while it has offers, base units (10 AGR) */
  uint64_t dispute_window;   /* blocks after a receipt in which it may be disputed (1,000) */
  uint64_t unbond_delay;     /* blocks a bond stays locked after unbonding (> dispute_window +
                                commit_blocks + reveal_blocks;
                                2,000) */
  uint16_t max_royalty_bps;  /* highest royalty rate of a model (5000 = 50%) */
  uint16_t max_ancestor_bps; /* most of an asset's income its ancestors may take (5000) */
  uint64_t dispute_bond;     /* least bond a dispute carries, base units (1 AGR) */
  uint64_t slash_amount;     /* taken from a provider's bond per proven fault (10 AGR) */
  uint64_t commit_blocks;    /* a dispute's commit phase, blocks after the open (20) */
  uint64_t reveal_blocks;    /* its reveal phase, blocks after the commit phase (20) */
  uint16_t committee_size;   /* validators sampled per dispute (5; 1..32) */
  uint16_t challenger_bps;   /* of a slash beyond the client's refund, to the challenger (2000) */
  uint16_t committee_bps;    /* of the same, to the committee members who voted with the
                                majority (2000); the rest is burned */
} ag_economy_params;

#define AG_MAX_OFFERS_PER_MODEL 256
#define AG_MAX_TOKENS_LIMIT 1000000

/* A provider's bond: what its coldkey locked behind its hotkey's offers; slashable for a
 * proven fault until it is withdrawn. */
typedef struct {
  uint8_t hotkey[32];
  uint8_t coldkey[32];
  uint64_t bonded;    /* locked and backing offers */
  uint64_t unbonding; /* on its way back to the coldkey */
  uint64_t unbond_at; /* first height at which `unbonding` may be withdrawn */
  uint16_t offers;    /* offers the hotkey has posted */
  uint32_t faults;    /* disputes that proved a fault */
  uint32_t cleared;   /* disputes that found none */
  uint16_t disputes;  /* disputes open against it: no withdrawal until they end */
  uint64_t held;      /* the part of bonded + unbonding those disputes hold for their slash */
} ag_bond;

/* What a provider asks for serving a model. Prices are base units per 1,000 tokens. */
typedef struct {
  uint8_t hotkey[32];
  uint8_t model[32];
  uint64_t price_in;   /* per 1,000 prompt tokens */
  uint64_t price_out;  /* per 1,000 output tokens */
  uint32_t max_tokens; /* most output tokens per request */
  uint64_t posted;     /* height of the last post */
} ag_offer;

typedef struct {
  uint8_t id[32];
  uint8_t status;        /* AG_CHANNEL_* */
  uint8_t client[32];    /* funds it; receives the refund */
  uint8_t provider[32];  /* redeems vouchers */
  uint8_t signer[32];    /* signs vouchers (the client's key, or one it delegates to) */
  uint8_t model[32];     /* what the channel pays for (zeros: unspecified) */
  uint64_t deposit;      /* total funded */
  uint64_t claimed;      /* total paid to the provider: the last redeemed cumulative amount */
  uint64_t seq;          /* sequence of the last redeemed voucher (0: none) */
  uint64_t settle_delay; /* blocks between the client's close request and its refund */
  uint64_t expiry;       /* last height that takes claims and top-ups; 0 = none */
  uint64_t close_at;     /* CLOSING: first height at which the client's close refunds */
  uint64_t opened;       /* height of the open */
  uint64_t closed;       /* CLOSED: height of the close */
} ag_channel;

/* A voucher as signed by the channel's signer (docs/economy.md "Vouchers"):
 *   version u8 (=1) | chain_id_len u8 | chain_id | channel[32] | cumulative u64 | seq u64 |
 *   signature[64] over BLAKE2b-256("agora/voucher", every byte before it). */
#define AG_VOUCHER_VERSION 1
#define AG_VOUCHER_MAX (2 + AG_CHAIN_ID_MAX + 32 + 16 + 64)
typedef struct {
  char chain_id[AG_CHAIN_ID_MAX + 1];
  uint8_t channel[32];
  uint64_t cumulative;
  uint64_t seq;
  uint8_t sig[64];
} ag_voucher;

/* ---- paid answers and their evidence (payment receipts: docs/economy.md "Paid requests") -- */

/* What a provider signs about a paid request. */
typedef struct {
  uint8_t channel[32];
  uint64_t seq, cumulative;     /* the voucher that paid */
  uint64_t n_in, n_out;         /* tokens billed */
  uint64_t price_in, price_out; /* base units per 1,000 tokens (the offer's) */
  uint64_t cost;                /* this request: ag_offer_cost(n_in, n_out) */
  uint64_t billed;              /* the channel's total billed, this request included */
  uint64_t height;              /* the chain's height as the provider saw it; starts the
                                   dispute window */
} ag_pay_receipt;

/* BLAKE2b-256("agora/infpay", hotkey | request_hash | channel | seq | cumulative | n_in |
 * n_out | price_in | price_out | cost | billed | height), integers u64 little-endian. */
void ag_pay_receipt_message(const uint8_t hotkey[32], const uint8_t request_hash[32],
                            const ag_pay_receipt *r, uint8_t out[32]);
/* The hash of an inference request: BLAKE2b-256("agora/infreq", the body as sent). */
void ag_answer_request_hash(const void *body, size_t len, uint8_t out[32]);
/* What a miner signs over an answer (docs/subnet-inference.md):
 * BLAKE2b-256("agora/infsig", hotkey | request_hash | BLAKE2b-256("agora/inftext", text) |
 *             commitment | BLAKE2b-256("agora/receipt", receipt)). */
void ag_answer_message(const uint8_t hotkey[32], const uint8_t request_hash[32], const void *text,
                       size_t tlen, const uint8_t commitment[32], const uint8_t *receipt,
                       size_t rlen, uint8_t out[32]);
/* The same with the receipt's hash BLAKE2b-256("agora/receipt", receipt) given. */
void ag_answer_message_rh(const uint8_t hotkey[32], const uint8_t request_hash[32], const void *text,
                          size_t tlen, const uint8_t commitment[32], const uint8_t receipt_hash[32],
                          uint8_t out[32]);

/* ---- disputes (dispute.c) ------------------------------------------------------------------ */

/* Evidence of a paid answer, as a dispute carries it (docs/economy.md "Disputes"):
 *   hotkey[32] | channel[32] | seq | cumulative | n_in | n_out | price_in | price_out | cost |
 *   billed | height (9 × u64) | payment signature[64] | commitment[32] | answer signature[64] |
 *   body_len u32 | body | text_len u32 | text | receipt_len u32 | receipt
 * or, without the receipt, receipt_len 0 followed by its hash (32 bytes): the answer's
 * signature covers only the hash, and a seeded or greedy request is re-executed without it.
 * Both signatures are the provider's; together they bind what it billed to what it answered. */
typedef struct {
  uint8_t hotkey[32];
  ag_pay_receipt pay;
  uint8_t pay_sig[64];
  uint8_t commitment[32];
  uint8_t answer_sig[64];
  const uint8_t *body, *text, *receipt; /* borrowed; receipt NULL (len 0) when left out */
  uint32_t body_len, text_len, receipt_len;
  uint8_t receipt_hash[32]; /* set by decode; encode writes it when receipt_len is 0 */
} ag_evidence;

#define AG_EVIDENCE_FIXED (32 + 32 + 9 * 8 + 64 + 32 + 64)
#define AG_EVIDENCE_BODY_MAX (32u << 10)
#define AG_EVIDENCE_TEXT_MAX (32u << 10)
#define AG_DISPUTE_MAX_COMMITTEE 32
#define AG_DISPUTE_MAX_OPEN 1024
/* A case no vote carries is judged again, up to this many rounds in all, each by a committee
 * twice the last one's size (at most AG_DISPUTE_MAX_COMMITTEE), drawn without the members who
 * did not reveal: the members of every round but the last are excluded at most. */
#define AG_DISPUTE_ROUNDS 3
#define AG_DISPUTE_MAX_EXCLUDED ((AG_DISPUTE_ROUNDS - 1) * AG_DISPUTE_MAX_COMMITTEE)

void ag_evidence_encode(ag_buf *out, const ag_evidence *e);
/* Syntax only; e borrows from p. AG_E_DISPUTE_EVIDENCE with the field at fault. */
int ag_evidence_decode(const uint8_t *p, size_t n, ag_evidence *e);
/* Both signatures by e->hotkey: 0 or AG_E_DISPUTE_EVIDENCE. */
int ag_evidence_verify(const ag_evidence *e);

enum { AG_DISPUTE_OPEN = 0, AG_DISPUTE_FAULT = 1, AG_DISPUTE_CLEARED = 2, AG_DISPUTE_UNDECIDED = 3 };
enum { AG_MEMBER_COMMITTED = 1, AG_MEMBER_REVEALED = 2 };

typedef struct {
  uint8_t hotkey[32];
  uint64_t stake;     /* its stake when sampled: its voting weight */
  uint8_t flags;      /* AG_MEMBER_* */
  uint8_t commit[32];
  uint8_t vote[32];
  uint8_t work[32];   /* revealed with the vote: proof the member ran the model */
  uint64_t paid;      /* what the resolution paid it */
} ag_member;

typedef struct {
  uint8_t id[32];
  uint8_t status;          /* AG_DISPUTE_* */
  uint16_t netuid;         /* whose validators judge */
  uint8_t challenger[32];
  uint8_t provider[32];    /* the hotkey disputed */
  uint8_t channel[32];
  uint8_t client[32];      /* the channel's client: refunded on a fault */
  uint8_t claimed[32];     /* BLAKE2b-256("agora/inftext", the answer's text) */
  uint8_t model[32];       /* the channel's model: the one members judge with */
  uint64_t cost;           /* what the answer was billed */
  uint64_t bond;           /* the challenger's, held until the resolution */
  uint64_t opened, commit_end, reveal_end;
  uint8_t round;           /* 0 for the first committee; one more for each that decided nothing */
  uint64_t start;          /* the round's first block: opened, or the last round's reveal_end */
  uint64_t held;           /* the part of the provider's bond held for this case's slash */
  uint64_t slashed, refund, reward, committee_paid, burned; /* the resolution's amounts */
  uint8_t verdict[32];     /* the majority's vote (zeros when none) */
  uint8_t k;
  ag_member m[AG_DISPUTE_MAX_COMMITTEE];
  uint8_t nx;              /* members of earlier rounds who did not reveal: never drawn again */
  struct {
    uint8_t hotkey[32];
    uint64_t stake;        /* as drawn: a verdict must carry more than all of theirs */
  } excluded[AG_DISPUTE_MAX_EXCLUDED];
  uint8_t *evidence;       /* owned (NULL once resolved); free with ag_dispute_free */
  uint32_t evidence_len;
} ag_dispute;

/* The case id: BLAKE2b-256("agora/dispute", hotkey | request_hash | channel | seq u64). */
void ag_dispute_id(const ag_evidence *e, uint8_t out[32]);
/* AG_E_DISPUTE_NOT_FOUND when absent. */
int ag_dispute_load(ag_state *st, ag_state_view *view, const uint8_t id[32], ag_dispute *out);
/* The same without the evidence (evidence NULL, evidence_len its length): for lists. */
int ag_dispute_load_brief(ag_state *st, ag_state_view *view, const uint8_t id[32], ag_dispute *out);
void ag_dispute_free(ag_dispute *d);
const char *ag_dispute_status_name(uint8_t status);
/* The open cases (allocated with room for one more; at most AG_DISPUTE_MAX_OPEN). */
int ag_disputes_open(ag_state *st, ag_state_view *view, uint8_t (**out)[32], size_t *n);
/* The work a member reveals in round r: BLAKE2b-256("agora/dround", digest | r u8), digest
 * the member's proof of running the model (ag_inf_dispute_vote), which is never revealed, so a
 * later round's members cannot copy an earlier round's work. */
void ag_dispute_work(const uint8_t digest[32], uint8_t round, uint8_t out[32]);
/* A member's commit: BLAKE2b-256("agora/dcommit", case | hotkey | vote | work | salt). */
void ag_dispute_commit_hash(const uint8_t id[32], const uint8_t hotkey[32], const uint8_t vote[32],
                            const uint8_t work[32], const uint8_t salt[32], uint8_t out[32]);
void ag_payload_dispute_open(ag_buf *out, uint16_t netuid, uint64_t bond, const uint8_t *evidence,
                             size_t len);
void ag_economy_dispute_kinds(void);
/* The end-of-block hook that resolves cases whose reveal phase ended. */
int ag_economy_end_block(ag_app *app, void *ctx);

/* Registers the tx kinds (process-wide) and the genesis hook of app. Call once per app, after
 * ag_incentive_attach and before init_chain. */
void ag_economy_attach(ag_app *app);
void ag_economy_register_kinds(void);

void ag_economy_params_default(ag_economy_params *p);
/* Reads through the block overlay (st) or a committed view (view, when not NULL). */
int ag_economy_params_load(ag_state *st, ag_state_view *view, ag_economy_params *p);

/* The id a channel opened by client with the tx nonce gets:
 * BLAKE2b-256("agora/channel", chain_id_len u8 | chain_id | client[32] | nonce u64); for a
 * channel an agent key opens for its account, the agent key and its nonce (the key that
 * signed: two signers' nonces never collide). */
void ag_channel_id(const char *chain_id, const uint8_t client[32], uint64_t nonce,
                   uint8_t out[32]);
/* AG_E_CHANNEL_NOT_FOUND when absent. */
int ag_channel_load(ag_state *st, ag_state_view *view, const uint8_t id[32], ag_channel *out);
const char *ag_channel_status_name(uint8_t status);
/* What the provider may still be paid: deposit − claimed (0 once closed). */
uint64_t ag_channel_remaining(const ag_channel *ch);

/* Payload builders (clients). signer zeros = the client itself. */
void ag_payload_channel_open(ag_buf *out, const uint8_t provider[32], const uint8_t signer[32],
                             const uint8_t model[32], uint64_t deposit, uint64_t settle_delay,
                             uint64_t expiry);
void ag_payload_channel_fund(ag_buf *out, const uint8_t channel[32], uint64_t amount);
/* amount: the total the channel will have paid after the claim, at most the voucher's
 * cumulative amount (0: all of it). */
void ag_payload_channel_claim(ag_buf *out, uint8_t flags, uint64_t amount, const uint8_t *voucher,
                              size_t len);
/* n claims in one channel_claims payload; flags and amounts may be NULL (0 each). */
void ag_payload_channel_claims(ag_buf *out, size_t n, const uint8_t *flags, const uint64_t *amounts,
                               const uint8_t *const *vouchers, const size_t *lens);
void ag_payload_channel_close(ag_buf *out, const uint8_t channel[32]);

/* AG_E_BOND_NOT_FOUND / AG_E_OFFER_NOT_FOUND when absent. */
int ag_bond_load(ag_state *st, ag_state_view *view, const uint8_t hotkey[32], ag_bond *out);
int ag_offer_load(ag_state *st, ag_state_view *view, const uint8_t hotkey[32],
                  const uint8_t model[32], ag_offer *out);
/* The offers for a model, cheapest first (price_in + price_out, then hotkey); *out allocated
 * (free it), at most AG_MAX_OFFERS_PER_MODEL. */
int ag_offers_for_model(ag_state *st, ag_state_view *view, const uint8_t model[32],
                        ag_offer **out, size_t *n);
/* What a request costs at an offer: ceil(n_in × price_in / 1000) + ceil(n_out × price_out /
 * 1000), in 128-bit arithmetic; AG_E_OVERFLOW past 2^64 − 1. */
int ag_offer_cost(const ag_offer *o, uint64_t n_in, uint64_t n_out, uint64_t *cost);

void ag_payload_offer_post(ag_buf *out, const uint8_t hotkey[32], const uint8_t model[32],
                           uint64_t price_in, uint64_t price_out, uint32_t max_tokens,
                           uint64_t bond);
void ag_payload_offer_remove(ag_buf *out, const uint8_t hotkey[32], const uint8_t model[32]);
void ag_payload_bond(ag_buf *out, const uint8_t hotkey[32], uint64_t amount); /* unbond */

/* ---- assets, vaults and shares (asset.c) ---------------------------------------------------- */
/* AG_E_ASSET_NOT_FOUND / AG_E_HOLDING_NOT_FOUND when absent. */
int ag_asset_load(ag_state *st, ag_state_view *view, const uint8_t id[32], ag_asset *out);
int ag_holding_load(ag_state *st, ag_state_view *view, const uint8_t asset[32],
                    const uint8_t holder[32], ag_holding *out);
/* The holders of an asset, sorted (allocated; at most AG_MAX_HOLDERS). */
int ag_asset_holders(ag_state *st, ag_state_view *view, const uint8_t asset[32],
                     uint8_t (**out)[32], size_t *n);
/* What a holding can claim now, in base units (its owed part plus what the accumulator
 * gives it since its last settlement, floored). */
uint64_t ag_holding_claimable(const ag_asset *a, const ag_holding *h);
/* Income into a vault (block overlay): each ancestor's part to its vault, the rest shared by
 * the holders. The state machine's only way to pay an asset. */
int ag_asset_income(ag_state *st, const uint8_t id[32], uint64_t amount);
/* A channel claim's split: the royalty of model (when it is a registered model asset) of
 * amount, paid into the vaults; *royalty gets it (0 when there is none). */
int ag_asset_royalty(ag_state *st, const uint8_t model[32], uint64_t amount, uint64_t *royalty);
void ag_payload_asset_register(ag_buf *out, uint8_t kind, const uint8_t id[32], uint16_t royalty_bps,
                               uint64_t supply, const uint8_t (*parents)[32], const uint16_t *bps,
                               uint8_t n);
void ag_economy_asset_kinds(void);

/* ---- vouchers ------------------------------------------------------------------------------ */
/* Encodes and signs; appends to out. */
void ag_voucher_sign(ag_buf *out, const char *chain_id, const uint8_t channel[32],
                     uint64_t cumulative, uint64_t seq, const ag_keypair *signer);
/* Syntax only: AG_E_VOUCHER_MALFORMED with the field at fault. */
int ag_voucher_decode(const uint8_t *p, size_t n, ag_voucher *v);
/* Whether v may be redeemed on ch at height, given what ch says was redeemed already (the
 * chain's record, or a provider's own record of the last voucher it accepted). Checks, in
 * order: the chain (AG_E_VOUCHER_CHAIN), the channel (AG_E_VOUCHER_CHANNEL), that the channel
 * still takes claims (AG_E_CHANNEL_CLOSED, AG_E_CHANNEL_EXPIRED), the sequence
 * (AG_E_VOUCHER_SEQ), the amount against what was paid (AG_E_VOUCHER_STALE) and the deposit
 * (AG_E_VOUCHER_OVER_DEPOSIT), then the signature by ch->signer (AG_E_VOUCHER_SIGNATURE).
 * Every failure carries a message with the figures. */
int ag_voucher_check(const ag_voucher *v, const char *chain_id, const ag_channel *ch,
                     uint64_t height);

/* Σ over unclosed channels of deposit − claimed, plus Σ bonds (bonded + unbonding), plus Σ
 * vault balances, plus the bonds of open disputes, in the committed state. */
int ag_economy_holdings(ag_state *st, uint64_t *out);
/* The whole supply audit: what ag_incentive_audit accounts for plus the economy's holdings;
 * equals issued. */
int ag_economy_audit(ag_state *st, uint64_t *accounted, uint64_t *issued);

/* State keys (docs/economy.md). */
#define AG_EKEY_PARAMS "e/params"
#define AG_EKEY_CHANNEL 'c' /* "e" 'c' | id[32] */
#define AG_EKEY_BOND 'b'    /* "e" 'b' | hotkey[32] */
#define AG_EKEY_OFFER 'o'   /* "e" 'o' | hotkey[32] | model[32] */
#define AG_EKEY_MODEL 'm'   /* "e" 'm' | model[32]: the hotkeys with an offer, sorted */
#define AG_EKEY_ASSET 'a'   /* "e" 'a' | id[32] */
#define AG_EKEY_HOLDING 'h' /* "e" 'h' | asset[32] | holder[32] */
#define AG_EKEY_HOLDERS 'H' /* "e" 'H' | asset[32]: the holders, sorted */
#define AG_EKEY_DISPUTE 'd' /* "e" 'd' | case[32] */
/* Where a dispute record (dispute.c) keeps the challenger's bond: the audit reads it there. */
#define AG_DISPUTE_BOND_AT 228
#define AG_EKEY_AGENT 'k'  /* "e" 'k' | account[32] | agent[32]: an agent key */
#define AG_EKEY_AGENTS 'K' /* "e" 'K' | account[32]: frozen u8 | n u8 | n × agent[32] */
#define AG_EKEY_DISPUTES "e/disputes" /* the open cases: n u16 | n × (id[32] | reveal_end u64) */
#define AG_EKEY_DRAWS "e/draws" /* cases whose committee is still to draw: n u16 | n × (id[32] | start u64) */

/* Registers offer.c's kinds (ag_economy_register_kinds calls it). */
void ag_economy_offer_kinds(void);

/* ---- agent keys (agent.c; docs/agents.md) ------------------------------------------------- */

#define AG_AGENT_MAX_KEYS 16 /* per account */
#define AG_AGENT_MAX_RCPT 16 /* listed recipients per key */
#define AG_AGENT_ANY_PROVIDER 1 /* flag: any hotkey with a standing offer is a recipient too */

/* What an account lets a key do. Caps are in base units; UINT64_MAX is no cap. */
typedef struct {
  uint8_t flags;         /* AG_AGENT_* */
  uint64_t kinds;        /* bit k: the key may run tx kind k (only ag_agent_grantable()) */
  uint64_t expires;      /* first height at which the key is dead */
  uint64_t anchor;       /* first height it is live; windows are [anchor + i·period, +period) */
  uint64_t period;       /* blocks per window (≥ 1) */
  uint64_t max_per_tx;   /* fee + outflow of one tx */
  uint64_t period_cap;   /* fees + outflows within one window */
  uint64_t lifetime_cap; /* fees + outflows ever */
  uint64_t fee_cap;      /* fees ever */
  uint8_t n;
  uint8_t rcpt[AG_AGENT_MAX_RCPT][32];
} ag_agent_terms;

typedef struct {
  uint8_t account[32], agent[32];
  ag_agent_terms terms;
  uint64_t created;
  uint64_t period_idx, period_spent; /* the window last spent in, and what it took */
  uint64_t lifetime_spent, fee_spent;
} ag_agent_key;

typedef struct {
  uint8_t frozen;
  uint8_t n;
  uint8_t agent[AG_AGENT_MAX_KEYS][32]; /* in order of authorisation */
} ag_agent_index;

typedef struct {
  uint64_t per_tx, period, lifetime, fee; /* what the key may still spend */
} ag_agent_room;

uint64_t ag_agent_grantable(void);
/* AG_E_AGENT_UNKNOWN when absent. */
int ag_agent_key_load(ag_state *st, ag_state_view *view, const uint8_t account[32], const uint8_t agent[32],
                      ag_agent_key *out);
/* An account without agent keys has n = 0, not frozen. */
int ag_agent_index_load(ag_state *st, ag_state_view *view, const uint8_t account[32], ag_agent_index *out);
/* What k may still spend in a tx at height h. */
int ag_agent_remaining(const ag_agent_key *k, uint64_t h, ag_agent_room *r);
void ag_payload_agent_key_set(ag_buf *out, const uint8_t agent[32], const ag_agent_terms *t);
void ag_payload_agent_exec(ag_buf *out, const uint8_t account[32], uint16_t kind, const uint8_t *payload,
                           size_t len);
struct json_t *ag_json_agent_key(const ag_agent_key *k, uint64_t height);
void ag_economy_agent_kinds(void);

#endif
