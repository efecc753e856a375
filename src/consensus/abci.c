/*
 * abci.c — the ABCI 2.0 socket server CometBFT v0.38 talks to (docs/multi-validator.md).
 *
 * Framing: every message is a uvarint length, then a protobuf Request (from CometBFT) or
 * Response (to it); protobuf-c encodes and decodes them from abci.proto. CometBFT opens four
 * connections (query, snapshot, mempool, consensus); one thread polls them all and answers
 * each request in order, so requests are handled one at a time, like the Go server's global
 * lock. Responses are written as soon as they are made; Flush is answered in its place in the
 * stream, after everything before it.
 *
 * The state machine is the one the solo driver uses, untouched: Info, InitChain, CheckTx,
 * FinalizeBlock, Commit and Query call chain/app.h. State, height and app hash are made durable
 * together at Commit (never in FinalizeBlock), with a record of the block (version 2, block.h).
 * A request that cannot be decoded, or a failure to commit, ends the server: CometBFT stops
 * with it, and both restart from the last commit (the handshake replays the rest).
 */
#define _GNU_SOURCE
#include "consensus/abci.h"

#include "api/render.h"
#include "chain/block.h"
#include "chain/mempool.h"
#include "consensus/abci.pb-c.h" /* generated from abci.proto */
#include "consensus/snapshot.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CONNS 32
#define MAX_MSG (64u << 20)

typedef struct {
  int fd;
  ag_buf in;
} conn;

/* What FinalizeBlock decided, kept until Commit makes it durable. */
typedef struct {
  int pending;
  uint64_t height, time_ms;
  uint8_t proposer[32];
  uint8_t cometbft_hash[32];
  uint8_t app_hash[32];
  size_t ntx, nok;
  ag_buf txbytes;      /* the txs, concatenated */
  uint32_t *lens;
  int32_t *codes;
} block_in_flight;

typedef struct {
  ag_node *node;
  ag_app *app;
  block_in_flight b;
  ag_restore *restore; /* state sync: the snapshot being restored */
} server;

/* ---- listening ------------------------------------------------------------------------------ */

static int listen_on(const char *addr) {
  int fd = -1;
  if (!strncmp(addr, "unix://", 7)) {
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(addr + 7) >= sizeof sa.sun_path) return ag_fail(AG_E_INVALID, "unix socket path too long");
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", addr + 7);
    unlink(sa.sun_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) goto fail;
  } else {
    const char *hp = !strncmp(addr, "tcp://", 6) ? addr + 6 : addr;
    char host[128];
    const char *colon = strrchr(hp, ':');
    if (!colon || (size_t)(colon - hp) >= sizeof host) return ag_fail(AG_E_INVALID, "ABCI address '%s' is not tcp://HOST:PORT", addr);
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = 0;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host[0] ? host : "127.0.0.1", &sa.sin_addr) != 1)
      return ag_fail(AG_E_INVALID, "ABCI host '%s' must be an IPv4 address", host);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) goto fail;
  }
  if (listen(fd, 16) != 0) goto fail;
  return fd;
fail: {
  int e = errno;
  if (fd >= 0) close(fd);
  return ag_fail(AG_E_IO, "cannot listen for ABCI on %s: %s", addr, strerror(e));
}
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd pf = {fd, POLLOUT, 0};
        poll(&pf, 1, 1000);
        continue;
      }
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void put_uvarint(ag_buf *out, uint64_t v) {
  for (;;) {
    uint8_t byte = v & 0x7f;
    v >>= 7;
    byte |= v ? 0x80 : 0;
    ag_buf_put(out, &byte, 1);
    if (!v) break;
  }
}

/* Appends r as a frame (uvarint length, then the message). */
static void put_response(ag_buf *out, const Tendermint__Abci__Response *r) {
  size_t len = tendermint__abci__response__get_packed_size(r);
  put_uvarint(out, len);
  ag_buf_reserve(out, len);
  tendermint__abci__response__pack(r, out->data + out->len);
  out->len += len;
}

void ag_abci_put_request(ag_buf *out, const Tendermint__Abci__Request *r) {
  size_t len = tendermint__abci__request__get_packed_size(r);
  put_uvarint(out, len);
  ag_buf_reserve(out, len);
  tendermint__abci__request__pack(r, out->data + out->len);
  out->len += len;
}

/* ---- handlers -------------------------------------------------------------------------------- */

static uint64_t ts_ms(const Tendermint__Abci__Timestamp *t) {
  if (!t || t->seconds < 0) return 0;
  return (uint64_t)t->seconds * 1000 + (uint64_t)(t->nanos > 0 ? t->nanos : 0) / 1000000;
}

static size_t uvarint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) v >>= 7, n++;
  return n;
}

static void do_info(server *s, Tendermint__Abci__ResponseInfo *out, uint8_t hash[32]) {
  ag_app_info info;
  ag_app_info_get(s->app, &info);
  out->data = "agora";
  out->version = "0.1.0";
  out->app_version = 1;
  out->last_block_height = (int64_t)info.height;
  if (info.initialized && info.height > 0) {
    memcpy(hash, info.app_hash, 32);
    out->last_block_app_hash.data = hash;
    out->last_block_app_hash.len = 32;
  }
}

static int do_init_chain(server *s, const Tendermint__Abci__RequestInitChain *req, uint8_t hash[32]) {
  ag_genesis g;
  int rc = ag_genesis_parse((const char *)req->app_state_bytes.data, req->app_state_bytes.len, &g);
  if (rc) return rc;
  /* CometBFT's genesis validators: the set ag_app_validator_set changes later */
  g.validators = ag_xcalloc(req->n_validators + 1, sizeof *g.validators);
  for (size_t i = 0; i < req->n_validators && !rc; i++) {
    const Tendermint__Abci__ValidatorUpdate *u = req->validators[i];
    if (!u->pub_key || u->pub_key->sum_case != TENDERMINT__ABCI__PUBLIC_KEY__SUM_ED25519 ||
        u->pub_key->ed25519.len != 32 || u->power <= 0 || (uint64_t)u->power > AG_VALIDATOR_POWER_MAX)
      rc = ag_fail(AG_E_GENESIS, "genesis validator %zu: only ed25519 keys with power 1..%llu are supported", i,
                   (unsigned long long)AG_VALIDATOR_POWER_MAX);
    else {
      memcpy(g.validators[i].pk, u->pub_key->ed25519.data, 32);
      g.validators[i].power = (uint64_t)u->power;
      g.nvalidators++;
    }
  }
  if (rc) {
    ag_genesis_free(&g);
    return rc;
  }
  if (strcmp(g.chain_id, req->chain_id) != 0)
    rc = ag_fail(AG_E_GENESIS, "app_state is for chain '%s' but CometBFT runs '%s'", g.chain_id, req->chain_id);
  else if (req->initial_height > 1)
    rc = ag_fail(AG_E_GENESIS, "initial_height %lld is not supported (use 1)", (long long)req->initial_height);
  else
    rc = ag_app_init_chain(s->app, &g, hash);
  ag_genesis_free(&g);
  return rc;
}

static void do_check_tx(server *s, const Tendermint__Abci__RequestCheckTx *req,
                        Tendermint__Abci__ResponseCheckTx *out, ag_result *res) {
  int rc = ag_app_check_tx(s->app, req->tx.data, req->tx.len,
                           req->type == 1 ? AG_CHECK_RECHECK : AG_CHECK_NEW, res, NULL);
  uint8_t id[32];
  ag_hash("agora/txid", req->tx.data, req->tx.len, id);
  ag_node_cmt_checked(s->node, req->tx.data, req->tx.len, id, req->type == 1, rc == 0);
  out->code = rc ? (uint32_t)-rc : 0;
  out->log = res->log;
  out->codespace = rc ? "agora" : "";
}

typedef struct {
  uint64_t raw, framed;      /* taken so far */
  uint64_t max_raw, max_framed;
} prep_room;

static int prep_fit(void *ctx, const ag_mempool_entry *e) {
  prep_room *r = ctx;
  uint64_t framed = 1 + uvarint_len(e->len) + e->len;
  if (e->len > r->max_raw - r->raw || framed > r->max_framed - r->framed) return 0;
  r->raw += e->len;
  r->framed += framed;
  return 1;
}

size_t ag_abci_prepare(const uint8_t *const *txs, const size_t *lens, size_t n,
                       const ag_params *p, int64_t max_tx_bytes, size_t *order) {
  ag_mempool_entry *ents = ag_xcalloc(n ? n : 1, sizeof *ents);
  const ag_mempool_entry **grp = ag_xmalloc((n ? n : 1) * sizeof *grp);
  const ag_mempool_entry **out = ag_xmalloc((n ? n : 1) * sizeof *out);
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    ag_tx tx;
    if (lens[i] > UINT32_MAX || ag_tx_decode(txs[i], lens[i], &tx)) continue;
    ag_mempool_entry *e = &ents[m];
    memcpy(e->sender, tx.sender, 32);
    e->nonce = tx.nonce;
    e->fee = tx.fee;
    e->seq = i; /* CometBFT's order breaks ties, and maps the choice back */
    e->len = (uint32_t)lens[i];
    grp[m++] = e;
  }
  ag_mempool_group(grp, m);
  prep_room room = {0, 0, p->max_block_bytes, max_tx_bytes > 0 ? (uint64_t)max_tx_bytes : 0};
  size_t k = ag_mempool_order(grp, m, p->max_block_txs, prep_fit, &room, out);
  for (size_t j = 0; j < k; j++) order[j] = (size_t)out[j]->seq;
  free(ents);
  free(grp);
  free(out);
  return k;
}

/* With the nop mempool (CometBFT offers no txs): the block from this node's own pool, fitted
 * the same way; the txs' bytes live in *bytes until the response is written. */
static void prepare_own(server *s, const Tendermint__Abci__RequestPrepareProposal *req, const ag_params *p,
                        ag_buf *bytes, Tendermint__Abci__ResponsePrepareProposal *out) {
  size_t *lens, n = ag_node_proposal_txs(s->node, p->max_block_bytes, p->max_block_txs, bytes, &lens);
  const uint8_t **txs = ag_xmalloc((n + 1) * sizeof *txs);
  size_t *order = ag_xmalloc((n + 1) * sizeof *order);
  for (size_t i = 0, off = 0; i < n; off += lens[i++]) txs[i] = bytes->data + off;
  size_t k = ag_abci_prepare(txs, lens, n, p, req->max_tx_bytes, order);
  free(out->txs);
  out->txs = ag_xmalloc((k + 1) * sizeof *out->txs);
  for (size_t j = 0; j < k; j++) out->txs[j] = (ProtobufCBinaryData){lens[order[j]], (uint8_t *)txs[order[j]]};
  out->n_txs = k;
  free(txs);
  free(order);
  free(lens);
}

static void do_prepare(server *s, const Tendermint__Abci__RequestPrepareProposal *req, ag_buf *bytes,
                       Tendermint__Abci__ResponsePrepareProposal *out) {
  /* CometBFT's mempool is FIFO: the block is ours to order (fees first) and to fit to the
   * limits ProcessProposal checks, or another validator would reject our proposal */
  out->txs = ag_xmalloc((req->n_txs + 1) * sizeof *out->txs);
  out->n_txs = 0;
  ag_params p;
  if (ag_app_params(s->app, &p)) return; /* no genesis yet: an empty block */
  if (ag_node_own_mempool(s->node)) {
    prepare_own(s, req, &p, bytes, out);
    return;
  }
  const uint8_t **txs = ag_xmalloc((req->n_txs + 1) * sizeof *txs);
  size_t *lens = ag_xmalloc((req->n_txs + 1) * sizeof *lens);
  size_t *order = ag_xmalloc((req->n_txs + 1) * sizeof *order);
  for (size_t i = 0; i < req->n_txs; i++) {
    txs[i] = req->txs[i].data;
    lens[i] = req->txs[i].len;
  }
  size_t k = ag_abci_prepare(txs, lens, req->n_txs, &p, req->max_tx_bytes, order);
  for (size_t j = 0; j < k; j++) out->txs[j] = req->txs[order[j]];
  out->n_txs = k;
  free(txs);
  free(lens);
  free(order);
}

static int do_process(server *s, const Tendermint__Abci__RequestProcessProposal *req) {
  ag_params p;
  if (ag_app_params(s->app, &p)) return 2;
  if (req->n_txs > p.max_block_txs) return 2;
  uint64_t bytes = 0;
  for (size_t i = 0; i < req->n_txs; i++) {
    ag_tx tx;
    int drc = ag_tx_decode(req->txs[i].data, req->txs[i].len, &tx);
    if (drc) {
      ag_warn("abci", "rejecting proposal at height %lld: tx %zu does not decode (%s)",
              (long long)req->height, i, ag_errmsg(drc));
      return 2; /* REJECT */
    }
    bytes += req->txs[i].len;
  }
  return bytes > p.max_block_bytes ? 2 : 1;
}

/* The previous block's votes and the block's evidence, by validator address. Entries whose
 * address is not 20 bytes are left out: CometBFT's addresses of ed25519 keys always are. */
static void block_votes(const Tendermint__Abci__RequestFinalizeBlock *req, ag_vote_info **votes, size_t *nv,
                        ag_misbehavior **mis, size_t *nm) {
  const Tendermint__Abci__CommitInfo *c = req->decided_last_commit;
  size_t n = c ? c->n_votes : 0;
  *votes = ag_xcalloc(n + 1, sizeof **votes);
  *nv = 0;
  for (size_t i = 0; i < n; i++) {
    const Tendermint__Abci__VoteInfo *v = c->votes[i];
    if (!v || !v->validator || v->validator->address.len != 20) continue;
    memcpy((*votes)[*nv].addr, v->validator->address.data, 20);
    (*votes)[*nv].signed_block = v->block_id_flag == 2; /* BLOCK_ID_FLAG_COMMIT */
    (*votes)[*nv].power = v->validator->power > 0 ? (uint64_t)v->validator->power : 0;
    (*nv)++;
  }
  *mis = ag_xcalloc(req->n_misbehavior + 1, sizeof **mis);
  *nm = 0;
  for (size_t i = 0; i < req->n_misbehavior; i++) {
    const Tendermint__Abci__Misbehavior *m = req->misbehavior[i];
    if (!m || !m->validator || m->validator->address.len != 20 || (m->type != 1 && m->type != 2)) continue;
    memcpy((*mis)[*nm].addr, m->validator->address.data, 20);
    (*mis)[*nm].kind = (uint8_t)m->type;
    (*mis)[*nm].height = m->height > 0 ? (uint64_t)m->height : 0;
    (*nm)++;
  }
}

static int do_finalize(server *s, const Tendermint__Abci__RequestFinalizeBlock *req,
                       Tendermint__Abci__ResponseFinalizeBlock *out, ag_result **resp_res) {
  block_in_flight *b = &s->b;
  ag_buf_reset(&b->txbytes);
  b->ntx = req->n_txs;
  b->lens = ag_xrealloc(b->lens, (b->ntx + 1) * sizeof *b->lens);
  b->codes = ag_xrealloc(b->codes, (b->ntx + 1) * sizeof *b->codes);
  const uint8_t **txs = ag_xmalloc((b->ntx + 1) * sizeof *txs);
  for (size_t i = 0; i < b->ntx; i++) {
    txs[i] = req->txs[i].data;
    b->lens[i] = (uint32_t)req->txs[i].len;
    ag_buf_put(&b->txbytes, req->txs[i].data, req->txs[i].len);
  }
  ag_result *res = ag_xmalloc((b->ntx + 1) * sizeof *res);
  memset(b->proposer, 0, 32);
  memcpy(b->proposer, req->proposer_address.data, AG_MIN(req->proposer_address.len, (size_t)32));
  memset(b->cometbft_hash, 0, 32);
  memcpy(b->cometbft_hash, req->hash.data, AG_MIN(req->hash.len, (size_t)32));
  b->height = (uint64_t)req->height;
  b->time_ms = ts_ms(req->time);
  ag_block_ctx ctx = {b->height, b->time_ms, {0}, NULL, 0, NULL, 0};
  memcpy(ctx.proposer, b->proposer, 32);
  ag_vote_info *votes = NULL;
  ag_misbehavior *mis = NULL;
  block_votes(req, &votes, &ctx.nvotes, &mis, &ctx.nmisbehavior);
  ctx.votes = votes;
  ctx.misbehavior = mis;
  int rc = ag_app_finalize_block(s->app, &ctx, txs, b->lens, b->ntx, res, b->app_hash);
  free(votes);
  free(mis);
  free(txs);
  if (rc) {
    free(res);
    return rc;
  }
  b->nok = 0;
  out->n_tx_results = b->ntx;
  out->tx_results = ag_xmalloc((b->ntx + 1) * sizeof *out->tx_results);
  for (size_t i = 0; i < b->ntx; i++) {
    Tendermint__Abci__ExecTxResult *x = ag_xmalloc(sizeof *x);
    tendermint__abci__exec_tx_result__init(x);
    b->codes[i] = res[i].code;
    b->nok += res[i].code == 0;
    x->code = res[i].code ? (uint32_t)-res[i].code : 0;
    x->log = res[i].log;
    x->codespace = res[i].code ? "agora" : "";
    out->tx_results[i] = x;
  }
  /* the validator set changes the block made (ag_app_validator_set): CometBFT applies them two
   * heights later */
  const ag_validator *vu;
  size_t nvu = ag_app_validator_updates(s->app, &vu);
  out->n_validator_updates = nvu;
  out->validator_updates = ag_xmalloc((nvu + 1) * sizeof *out->validator_updates);
  for (size_t i = 0; i < nvu; i++) {
    Tendermint__Abci__ValidatorUpdate *u = ag_xmalloc(sizeof *u);
    Tendermint__Abci__PublicKey *k = ag_xmalloc(sizeof *k);
    tendermint__abci__validator_update__init(u);
    tendermint__abci__public_key__init(k);
    k->sum_case = TENDERMINT__ABCI__PUBLIC_KEY__SUM_ED25519;
    k->ed25519.data = (uint8_t *)vu[i].pk; /* the app keeps them until the next block */
    k->ed25519.len = 32;
    u->pub_key = k;
    u->power = (int64_t)vu[i].power;
    out->validator_updates[i] = u;
    char hex[65];
    ag_hex_encode(vu[i].pk, 32, hex);
    ag_info("abci", "height %llu: validator %.16s… power %llu", (unsigned long long)b->height, hex,
            (unsigned long long)vu[i].power);
  }
  out->app_hash.data = b->app_hash;
  out->app_hash.len = 32;
  b->pending = 1;
  *resp_res = res; /* owns the log strings until the response is written */
  return 0;
}

static int do_commit(server *s) {
  block_in_flight *b = &s->b;
  if (!b->pending) return ag_fail(AG_E_INVALID, "Commit without FinalizeBlock");
  ag_app_info info;
  ag_app_info_get(s->app, &info);
  ag_block_header h;
  memset(&h, 0, sizeof h);
  h.version = AG_BLOCK_VERSION_COMETBFT;
  snprintf(h.chain_id, sizeof h.chain_id, "%s", info.chain_id);
  h.height = b->height;
  h.time_ms = b->time_ms;
  memcpy(h.prev_hash, ag_node_last_block_hash(s->node), 32);
  memcpy(h.state_root, b->app_hash, 32);
  memcpy(h.proposer, b->proposer, 32);
  h.tx_count = (uint32_t)b->ntx;
  uint8_t (*ids)[32] = ag_xmalloc((b->ntx + 1) * 32), (*rh)[32] = ag_xmalloc((b->ntx + 1) * 32);
  const uint8_t **txs = ag_xmalloc((b->ntx + 1) * sizeof *txs);
  static const uint8_t none[1];
  for (size_t i = 0, off = 0; i < b->ntx; i++) {
    txs[i] = b->txbytes.data ? b->txbytes.data + off : none; /* a block of empty txs */
    ag_hash("agora/txid", txs[i], b->lens[i], ids[i]);
    ag_result_hash(b->codes[i], rh[i]);
    off += b->lens[i];
  }
  ag_merkle_root((const uint8_t(*)[32])ids, b->ntx, h.tx_root);
  ag_merkle_root((const uint8_t(*)[32])rh, b->ntx, h.result_root);
  uint8_t sig[AG_SIG_LEN] = {0}, bh[32];
  memcpy(sig, b->cometbft_hash, 32);
  ag_block_hash(&h, bh);
  ag_buf rec;
  ag_buf_init(&rec);
  ag_block_encode(&h, sig, txs, b->lens, &rec);
  ag_node_cmt_hold(s->node, 1);
  int rc = ag_app_commit(s->app, rec.data, rec.len, bh);
  if (!rc) ag_node_cmt_block(s->node, b->height, (const uint8_t(*)[32])ids, b->ntx);
  ag_node_cmt_hold(s->node, 0);
  ag_buf_free(&rec);
  free(rh);
  free(txs);
  b->pending = 0;
  if (!rc) ag_node_committed(s->node, b->height, bh, b->time_ms, b->ntx, b->nok);
  if (!rc) ag_node_snapshot(s->node, b->height);
  free(ids);
  return rc;
}

static void do_query(server *s, const Tendermint__Abci__RequestQuery *req,
                     Tendermint__Abci__ResponseQuery *out, ag_query_result *q, char **logbuf,
                     char **proofbuf, Tendermint__Abci__ProofOps *ops, Tendermint__Abci__ProofOp *op,
                     Tendermint__Abci__ProofOp **opp) {
  const char *path = req->path && req->path[0] == '/' ? req->path + 1 : req->path ? req->path : "";
  int rc = ag_app_query(s->app, path, req->data.data, req->data.len, req->prove, q);
  out->height = (int64_t)q->height;
  if (rc) {
    out->code = (uint32_t)-rc;
    *logbuf = ag_xstrdup(ag_errmsg(rc));
    out->log = *logbuf;
    out->codespace = "agora";
    return;
  }
  if (!q->found) {
    out->code = (uint32_t)-AG_E_NOTFOUND;
    out->log = "not found";
    out->codespace = "agora";
  }
  out->value.data = q->value.data;
  out->value.len = q->value.len;
  out->key.data = q->key_hash;
  out->key.len = 32;
  if (req->prove && strcmp(path, "tx") != 0) {
    json_t *pj = ag_json_proof(&q->proof, q->key_hash);
    json_object_set_new(pj, "root", ag_json_hex(q->root, 32));
    *proofbuf = json_dumps(pj, JSON_COMPACT);
    json_decref(pj);
    tendermint__abci__proof_op__init(op);
    op->type = "agora/smt";
    op->key.data = q->key_hash;
    op->key.len = 32;
    op->data.data = (uint8_t *)*proofbuf;
    op->data.len = strlen(*proofbuf);
    tendermint__abci__proof_ops__init(ops);
    *opp = op;
    ops->ops = opp;
    ops->n_ops = 1;
    out->proof_ops = ops;
  }
}

/* ---- state sync --------------------------------------------------------------------------- */

static void snapshot_dir(server *s, char *out, size_t cap) {
  snprintf(out, cap, "%s/data/snapshots", ag_node_config_of(s->node)->home);
}

static void list_snapshots(server *s, Tendermint__Abci__ResponseListSnapshots *out, ProtobufCBinaryData **packed,
                           size_t *n) {
  char dir[1200];
  snapshot_dir(s, dir, sizeof dir);
  ag_snapshot_info *info;
  size_t m;
  ag_snapshot_list(dir, &info, &m);
  *packed = ag_xcalloc(m ? m : 1, sizeof **packed);
  for (size_t i = 0; i < m; i++) {
    Tendermint__Abci__Snapshot sn = TENDERMINT__ABCI__SNAPSHOT__INIT;
    sn.height = info[i].height;
    sn.format = info[i].format;
    sn.chunks = info[i].chunks;
    sn.hash = (ProtobufCBinaryData){32, info[i].hash};
    sn.metadata = (ProtobufCBinaryData){info[i].metalen, info[i].metadata};
    size_t len = tendermint__abci__snapshot__get_packed_size(&sn);
    (*packed)[i].data = ag_xmalloc(len ? len : 1);
    (*packed)[i].len = tendermint__abci__snapshot__pack(&sn, (*packed)[i].data);
  }
  *n = m;
  out->n_snapshots = m;
  out->snapshots = *packed;
  ag_snapshot_list_free(info, m);
}

static int offer_snapshot(server *s, const Tendermint__Abci__RequestOfferSnapshot *req) {
  Tendermint__Abci__Snapshot *sn =
      tendermint__abci__snapshot__unpack(NULL, req->snapshot.len, req->snapshot.data);
  if (!sn) return AG_OFFER_REJECT;
  int res = AG_OFFER_REJECT;
  if (req->app_hash.len == 32) {
    ag_restore_free(s->restore);
    s->restore = NULL;
    res = ag_restore_offer(s->app, sn->height, sn->format, sn->chunks, sn->metadata.data, sn->metadata.len,
                           req->app_hash.data, &s->restore);
  }
  tendermint__abci__snapshot__free_unpacked(sn, NULL);
  return res;
}

static int apply_chunk(server *s, const Tendermint__Abci__RequestApplySnapshotChunk *req, int *reject) {
  *reject = 0;
  if (!s->restore) return AG_APPLY_ABORT;
  int done = 0;
  int res = ag_restore_apply(s->restore, req->index, req->chunk.data, req->chunk.len, req->sender, reject, &done);
  if (done) {
    ag_app_info info;
    ag_app_info_get(s->app, &info);
    ag_node_restored(s->node, info.height, info.time_ms);
  }
  if (done || res == AG_APPLY_REJECT_SNAPSHOT) {
    ag_restore_free(s->restore);
    s->restore = NULL;
  }
  return res;
}

/* Handles one request, appending its response to out; returns nonzero when the connection
 * (and the server) must stop. */
static int handle(server *s, ag_buf *out, const Tendermint__Abci__Request *req) {
  Tendermint__Abci__Response r = TENDERMINT__ABCI__RESPONSE__INIT;
  int rc = 0, fatal = 0;
  uint8_t hash[32];
  ag_result one;
  ag_result *results = NULL;
  char *logbuf = NULL, *proofbuf = NULL;
  ag_query_result q;
  memset(&q, 0, sizeof q);
  ag_buf_init(&q.value);
  Tendermint__Abci__ResponseEcho echo = TENDERMINT__ABCI__RESPONSE_ECHO__INIT;
  Tendermint__Abci__ResponseFlush flush = TENDERMINT__ABCI__RESPONSE_FLUSH__INIT;
  Tendermint__Abci__ResponseInfo info = TENDERMINT__ABCI__RESPONSE_INFO__INIT;
  Tendermint__Abci__ResponseInitChain init = TENDERMINT__ABCI__RESPONSE_INIT_CHAIN__INIT;
  Tendermint__Abci__ResponseQuery query = TENDERMINT__ABCI__RESPONSE_QUERY__INIT;
  Tendermint__Abci__ResponseCheckTx check = TENDERMINT__ABCI__RESPONSE_CHECK_TX__INIT;
  Tendermint__Abci__ResponseCommit commit = TENDERMINT__ABCI__RESPONSE_COMMIT__INIT;
  Tendermint__Abci__ResponseListSnapshots lists = TENDERMINT__ABCI__RESPONSE_LIST_SNAPSHOTS__INIT;
  Tendermint__Abci__ResponseOfferSnapshot offer = TENDERMINT__ABCI__RESPONSE_OFFER_SNAPSHOT__INIT;
  Tendermint__Abci__ResponseLoadSnapshotChunk load = TENDERMINT__ABCI__RESPONSE_LOAD_SNAPSHOT_CHUNK__INIT;
  Tendermint__Abci__ResponseApplySnapshotChunk apply = TENDERMINT__ABCI__RESPONSE_APPLY_SNAPSHOT_CHUNK__INIT;
  Tendermint__Abci__ResponsePrepareProposal prep = TENDERMINT__ABCI__RESPONSE_PREPARE_PROPOSAL__INIT;
  ag_buf prep_bytes;
  ag_buf_init(&prep_bytes);
  Tendermint__Abci__ResponseProcessProposal proc = TENDERMINT__ABCI__RESPONSE_PROCESS_PROPOSAL__INIT;
  Tendermint__Abci__ResponseExtendVote ext = TENDERMINT__ABCI__RESPONSE_EXTEND_VOTE__INIT;
  Tendermint__Abci__ResponseVerifyVoteExtension ver = TENDERMINT__ABCI__RESPONSE_VERIFY_VOTE_EXTENSION__INIT;
  Tendermint__Abci__ResponseFinalizeBlock fin = TENDERMINT__ABCI__RESPONSE_FINALIZE_BLOCK__INIT;
  Tendermint__Abci__ProofOps ops;
  Tendermint__Abci__ProofOp op, *opp;
  ProtobufCBinaryData *snaps = NULL;
  size_t nsnaps = 0;
  uint8_t *chunk = NULL;
  uint32_t refetch = 0;
  char *reject_sender = NULL;
  int reject = 0;
  switch (req->value_case) {
  case TENDERMINT__ABCI__REQUEST__VALUE_ECHO:
    echo.message = req->echo->message;
    r.value_case = TENDERMINT__ABCI__RESPONSE__VALUE_ECHO;
    r.echo = &echo;
    break;
  case TENDERMINT__ABCI__REQUEST__VALUE_FLUSH:
    r.value_case = TENDERMINT__ABCI__RESPONSE__VALUE_FLUSH;
    r.flush = &flush;
    break;
  case TENDERMINT__ABCI__REQUEST__VALUE_INFO:
    do_info(s, &info, hash);
    r.value_case = TENDERMINT__ABCI__RESPONSE__VALUE_INFO;
    r.info = &info;
    break;
  case TENDERMINT__ABCI__REQUEST__VALUE_INIT_CHAIN:
    if ((rc = do_init_chain(s, req->init_chain, hash))) {
      ag_error("abci", "InitChain failed: %s", ag_errmsg(rc));
      fatal = 1;
      break;
    }
    init.app_hash.data = hash;
    init.app_hash.len = 32;
    r.value_case = TENDERMINT__ABCI__RESPONSE__VALUE_INIT_CHAIN;
    r.init_chain = &init;
    break;
  case TENDERMINT__ABCI__REQUEST__VALUE_QUERY:
    do_query(s, req->query, &query, &q, &logbuf, &proofbuf, &ops, &op, &opp);
    r.value_case = TENDERMINT__ABCI__RESPONSE__VALUE_QUERY;
    r.query = &query;
    break;
  case TENDERMINT__ABCI__REQUEST__VALUE_CHECK_TX:
    do_check_tx(s, req->check_tx, &check, &one);
    r.value_case = TENDERMINT__ABCI__RESPONSE__VALUE_CHECK_TX;
    r.check_tx = &check;
    break;
  case TENDERMINT__ABCI__REQUEST__VALUE_COMMIT:
    if ((rc = do_commit(s))) {
      ag_error("abci", "Commit failed: %s", ag_errmsg(rc));
      fatal = 1;
      break;
    }
    commit.retain_height = (int64_t)ag_node_retain_height(ag_node_config_of(s->node), s->b.height);
    r.value_case = TENDERMINT__ABCI__RESPONSE__VALUE_COMMIT;
    r.commit = &commit;
    break;
  case TENDERMINT__ABCI__REQUEST__VALUE_LIST_SNAPSHOTS:
    list_snapshots(s, &lists, &snaps, &nsnaps);
    r.value_case = TENDERMINT__ABCI__RESPONSE__VALUE_LIST_SNAPSHOTS;
    r.list_snapshots = &lists;
    break;
  case TENDERMINT__ABCI__REQUEST__VALUE_OFFER_SNAPSHOT:
    offer.result = offer_snapshot(s, req->offer_snapshot);
    r.value_case = TENDERMINT__ABCI__RESPONSE__VALUE_OFFER_SNAPSHOT;
    r.offer_snapshot = &offer;
    break;
  case TENDERMINT__ABCI__REQUEST__VALUE_LOAD_SNAPSHOT_CHUNK: {
    char dir[1200];
    snapshot_dir(s, dir, sizeof dir);
    size_t len = 0;
    if (ag_snapshot_chunk(dir, req->load_snapshot_chunk->height, req->load_snapshot_chunk->chunk, &chunk, &len) == 0)
      load.chunk = (ProtobufCBinaryData){len, chunk}; /* an empty chunk: we have none */
    /* fault injection for tests (docs/security.md): the first chunk any node serves once the
     * file this names exists is served damaged (whoever removes the file damages it) */
    const char *fault = getenv("AGORA_FAULT_SNAPSHOT_CHUNK");
    if (fault && len && unlink(fault) == 0) {
      chunk[len / 2] ^= 0x01;
      ag_warn("abci", "AGORA_FAULT_SNAPSHOT_CHUNK: serving chunk %u of snapshot %llu damaged",
              req->load_snapshot_chunk->chunk, (unsigned long long)req->load_snapshot_chunk->height);
    }
    r.value_case = TENDERMINT__ABCI__RESPONSE__VALUE_LOAD_SNAPSHOT_CHUNK;
    r.load_snapshot_chunk = &load;
    break;
  }
  case TENDERMINT__ABCI__REQUEST__VALUE_APPLY_SNAPSHOT_CHUNK:
    apply.result = apply_chunk(s, req->apply_snapshot_chunk, &reject);
    if (apply.result == AG_APPLY_RETRY) { /* fetched again (from another peer when reject) */
      refetch = req->apply_snapshot_chunk->index;
      apply.n_refetch_chunks = 1;
      apply.refetch_chunks = &refetch;
      if (reject && req->apply_snapshot_chunk->sender && *req->apply_snapshot_chunk->sender) {
        reject_sender = req->apply_snapshot_chunk->sender;
        apply.n_reject_senders = 1;
        apply.reject_senders = &reject_sender;
      }
    }
    r.value_case = TENDERMINT__ABCI__RESPONSE__VALUE_APPLY_SNAPSHOT_CHUNK;
    r.apply_snapshot_chunk = &apply;
    break;
  case TENDERMINT__ABCI__REQUEST__VALUE_PREPARE_PROPOSAL:
    do_prepare(s, req->prepare_proposal, &prep_bytes, &prep);
    r.value_case = TENDERMINT__ABCI__RESPONSE__VALUE_PREPARE_PROPOSAL;
    r.prepare_proposal = &prep;
    break;
  case TENDERMINT__ABCI__REQUEST__VALUE_PROCESS_PROPOSAL:
    proc.status = do_process(s, req->process_proposal);
    r.value_case = TENDERMINT__ABCI__RESPONSE__VALUE_PROCESS_PROPOSAL;
    r.process_proposal = &proc;
    break;
  case TENDERMINT__ABCI__REQUEST__VALUE_EXTEND_VOTE:
    r.value_case = TENDERMINT__ABCI__RESPONSE__VALUE_EXTEND_VOTE;
    r.extend_vote = &ext;
    break;
  case TENDERMINT__ABCI__REQUEST__VALUE_VERIFY_VOTE_EXTENSION:
    ver.status = 1;
    r.value_case = TENDERMINT__ABCI__RESPONSE__VALUE_VERIFY_VOTE_EXTENSION;
    r.verify_vote_extension = &ver;
    break;
  case TENDERMINT__ABCI__REQUEST__VALUE_FINALIZE_BLOCK:
    if ((rc = do_finalize(s, req->finalize_block, &fin, &results))) {
      ag_error("abci", "FinalizeBlock failed: %s", ag_errmsg(rc));
      fatal = 1;
      break;
    }
    r.value_case = TENDERMINT__ABCI__RESPONSE__VALUE_FINALIZE_BLOCK;
    r.finalize_block = &fin;
    break;
  default:
    ag_error("abci", "unknown ABCI request (field %d)", (int)req->value_case);
    fatal = 1;
  }
  if (!fatal) put_response(out, &r);
  for (size_t i = 0; i < nsnaps; i++) free(snaps[i].data);
  free(snaps);
  free(chunk);
  for (size_t i = 0; i < fin.n_tx_results; i++) free(fin.tx_results[i]);
  free(fin.tx_results);
  for (size_t i = 0; i < fin.n_validator_updates; i++) {
    free(fin.validator_updates[i]->pub_key);
    free(fin.validator_updates[i]);
  }
  free(fin.validator_updates);
  free(prep.txs);
  ag_buf_free(&prep_bytes);
  free(results);
  free(logbuf);
  free(proofbuf);
  ag_buf_free(&q.value);
  return fatal;
}

int ag_abci_frame(const uint8_t *p, size_t n, size_t *hdr, uint64_t *len) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (i == 10) return ag_fail(AG_E_NONCANONICAL, "length prefix longer than 10 bytes");
    v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
    if (!(p[i] & 0x80)) {
      if (v > MAX_MSG) return ag_fail(AG_E_TOO_LARGE, "message of %llu bytes exceeds the limit", (unsigned long long)v);
      if (n - i - 1 < v) return 0;
      *hdr = i + 1;
      *len = v;
      return 1;
    }
  }
  return 0;
}

/* Consumes complete frames from c->in, appending the responses to out. Returns nonzero to stop
 * the server. */
static int drain(server *s, conn *c, ag_buf *out) {
  size_t off = 0;
  int stop = 0;
  while (!stop) {
    uint64_t len = 0;
    size_t hdr = 0;
    int fr = ag_abci_frame(c->in.data + off, c->in.len - off, &hdr, &len);
    if (fr == 0) break; /* need more bytes */
    if (fr < 0) {
      ag_error("abci", "bad frame: %s", ag_errmsg(fr));
      stop = 1;
      break;
    }
    size_t i = off + hdr;
    if (c->in.len - i < len) break;
    Tendermint__Abci__Request *req = tendermint__abci__request__unpack(NULL, len, c->in.data + i);
    if (!req) {
      ag_error("abci", "undecodable ABCI request of %llu bytes", (unsigned long long)len);
      stop = 1;
      break;
    }
    stop = handle(s, out, req);
    tendermint__abci__request__free_unpacked(req, NULL);
    off = i + len;
  }
  if (off) {
    memmove(c->in.data, c->in.data + off, c->in.len - off);
    c->in.len -= off;
  }
  return stop;
}

int ag_abci_serve(ag_node *n) {
  const char *addr = ag_node_config_of(n)->abci_listen;
  int lfd = listen_on(addr);
  if (lfd < 0) return lfd;
  ag_info("abci", "serving ABCI on %s", addr);
  server s;
  memset(&s, 0, sizeof s);
  s.node = n;
  s.app = ag_node_app(n);
  ag_buf_init(&s.b.txbytes);
  conn conns[MAX_CONNS];
  int nconn = 0, rc = 0;
  ag_buf out;
  ag_buf_init(&out);
  while (!ag_node_stopping(n) && !rc) {
    struct pollfd pf[MAX_CONNS + 1];
    pf[0] = (struct pollfd){lfd, POLLIN, 0};
    for (int i = 0; i < nconn; i++) pf[i + 1] = (struct pollfd){conns[i].fd, POLLIN, 0};
    int pr = poll(pf, (nfds_t)nconn + 1, 200);
    if (pr < 0 && errno != EINTR) {
      rc = ag_fail(AG_E_IO, "poll: %s", strerror(errno));
      break;
    }
    if (pr <= 0) continue;
    for (int i = nconn - 1; i >= 0; i--) {
      if (!(pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      conn *c = &conns[i];
      ag_buf_reserve(&c->in, 65536);
      ssize_t r = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1);
      if (r > 0) {
        c->in.len += (size_t)r;
        ag_buf_reset(&out);
        int stop = drain(&s, c, &out);
        if (write_all(c->fd, out.data, out.len) != 0 || stop)
          rc = ag_fail(AG_E_INTERNAL, "ABCI connection failed; stopping (CometBFT stops too)");
        continue;
      }
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      close(c->fd); /* the peer went away: CometBFT restarts or a test client finished */
      ag_node_cmt_reset(n); /* its mempool is gone, or will be rebuilt through CheckTx */
      ag_buf_free(&c->in);
      conns[i] = conns[--nconn];
    }
    if (pf[0].revents & POLLIN) {
      int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0 && nconn < MAX_CONNS) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conns[nconn].fd = fd;
        ag_buf_init(&conns[nconn].in);
        nconn++;
      } else if (fd >= 0) {
        close(fd);
      }
    }
  }
  for (int i = 0; i < nconn; i++) {
    close(conns[i].fd);
    ag_buf_free(&conns[i].in);
  }
  close(lfd);
  ag_buf_free(&out);
  ag_buf_free(&s.b.txbytes);
  free(s.b.lens);
  free(s.b.codes);
  ag_restore_free(s.restore);
  return rc;
}

/* ---- one connection without a socket --------------------------------------------------------- */

struct ag_abci_session {
  server s;
  conn c;
};

ag_abci_session *ag_abci_session_new(ag_node *n) {
  ag_abci_session *x = ag_xcalloc(1, sizeof *x);
  x->s.node = n;
  x->s.app = ag_node_app(n);
  ag_buf_init(&x->s.b.txbytes);
  x->c.fd = -1;
  ag_buf_init(&x->c.in);
  return x;
}

int ag_abci_session_feed(ag_abci_session *x, const uint8_t *p, size_t n, ag_buf *out) {
  ag_buf_put(&x->c.in, p, n);
  ag_buf_reserve(&x->c.in, 1);
  return drain(&x->s, &x->c, out) ? ag_fail(AG_E_INTERNAL, "the ABCI server would stop here") : 0;
}

void ag_abci_session_free(ag_abci_session *x) {
  if (!x) return;
  ag_restore_free(x->s.restore);
  ag_buf_free(&x->c.in);
  ag_buf_free(&x->s.b.txbytes);
  free(x->s.b.lens);
  free(x->s.b.codes);
  free(x);
}
