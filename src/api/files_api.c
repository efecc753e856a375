/*
 * files_api.c — the files a node keeps for its subnets (docs/api.md): model files (checkpoints
 * that subnets pin or that validators propose), content-addressed by model id, and training
 * pseudo-gradient blobs, by hash. Nobody can make a node store bytes the chain did not ask for:
 * an upload names what it is (the id or hash in the path, its size in Content-Length) and is
 * refused on those headers alone unless the chain announces exactly that; the body then goes to
 * a temp file, hashed as it arrives, never past the declared size, and is checked (a model
 * loads and has its id; a blob hashes to its name and decodes as a pseudo-gradient of the
 * round's shape) before it is kept. What is kept is collected again: blobs of rounds older than
 * the node's horizon, and checkpoints nobody pins, proposes or finalized within it.
 *
 * Layout: HOME/models/<id>.agm, HOME/blobs/<netuid>/<round>/<hash>.pgrad, HOME/tmp (spool).
 */
#include "api/files_api.h"

#include "api/models.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "engine/checkpoint.h"
#include "engine/pgrad.h"
#include "incentive/training.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NODE(req) ((ag_node *)(req)->ctx)

static const char *home(ag_http_req *req) { return ag_node_config_of(NODE(req))->home; }

static void models_dir(ag_http_req *req, char *out, size_t cap) {
  snprintf(out, cap, "%s/models", home(req));
}

static int open_view(ag_http_req *req, ag_ist *s) {
  s->st = ag_app_state(ag_node_app(NODE(req)));
  return ag_state_view_open(s->st, &s->view);
}

static int hex32(const char *s, uint8_t out[32]) {
  return strlen(s) == 64 && ag_hex_decode(s, 64, out, 32) == 0 ? 0 : -1;
}

/* ---- model files -------------------------------------------------------------------------- */

/* The subnet that pins model id at exactly size, or proposes it in an open round; -1 if none. */
static int who_wants_model(ag_ist *s, const uint8_t id[32], uint64_t size) {
  uint16_t list[AG_MAX_SUBNETS];
  size_t n = 0;
  if (ag_subnet_list(s, list, AG_MAX_SUBNETS, &n)) return -1;
  for (size_t i = 0; i < n; i++) {
    ag_subnet_model sm;
    if (ag_subnet_model_load(s, list[i], &sm) == 0 && !memcmp(sm.model_id, id, 32) && sm.size == size)
      return list[i];
  }
  uint16_t proposed;
  if (ag_train_model_proposed(s, id, size, &proposed) == 0) return proposed;
  return -1;
}

/* GET /v1/model-files/{model id hex}: the file, streamed */
static void h_model_file(ag_http_req *req, ag_http_resp *resp) {
  uint8_t id[32];
  if (hex32(req->param, id)) return ag_http_error(resp, 400, AG_E_INVALID, "a model id is 64 hex digits");
  char dir[1100], path[1200];
  models_dir(req, dir, sizeof dir);
  ag_models_path(dir, id, path, sizeof path);
  if (!ag_http_stream_file(resp, path))
    ag_http_error(resp, 404, AG_E_MODEL_UNAVAILABLE, "this node does not hold that model");
}

/* POST /v1/model-files/{model id hex}, admitted on its headers: some subnet pins that id with
 * exactly the declared size, or a validator proposes it in an open round. */
static void model_admit(ag_http_req *req, ag_http_resp *resp) {
  uint8_t id[32];
  if (hex32(req->param, id)) return ag_http_error(resp, 400, AG_E_INVALID, "POST /v1/model-files/{model id}: a model id is 64 hex digits");
  if (req->body_len == 0) return ag_http_error(resp, 400, AG_E_INVALID, "a model file is not empty");
  ag_ist s;
  int rc = open_view(req, &s);
  if (rc) return ag_http_error(resp, 503, AG_E_UNAVAILABLE, ag_errmsg(rc));
  int netuid = who_wants_model(&s, id, req->body_len);
  ag_state_view_close(s.view);
  if (netuid < 0) {
    char msg[200];
    snprintf(msg, sizeof msg, "no subnet pins or proposes model %.64s with %zu bytes", req->param, req->body_len);
    return ag_http_error(resp, 403, AG_E_MODEL_NOT_PINNED, msg);
  }
  char dir[1100], path[1200];
  models_dir(req, dir, sizeof dir);
  ag_models_path(dir, id, path, sizeof path);
  if (ag_file_exists(path)) /* nothing to send: the node has it */
    ag_http_json(resp, 200, json_pack("{s:s, s:I, s:i, s:b}", "model_id", req->param, "size",
                                      (json_int_t)req->body_len, "netuid", netuid, "stored", 0));
}

static void model_upload(ag_http_req *req, ag_http_resp *resp) {
  uint8_t id[32], got[32];
  hex32(req->param, id);
  char dir[1100];
  models_dir(req, dir, sizeof dir);
  int rc = ag_models_adopt(dir, req->body_file, id, got);
  if (rc) return ag_http_error(resp, 400, rc, ag_errmsg(rc));
  ag_info("api", "stored model %.16s… (%zu bytes)", req->param, req->body_len);
  ag_files_collect(NODE(req), 0);
  ag_http_json(resp, 201, json_pack("{s:s, s:I, s:b}", "model_id", req->param, "size", (json_int_t)req->body_len,
                                    "stored", 1));
}

/* ---- pseudo-gradient blobs ---------------------------------------------------------------- */

/* Parameters of a checkpoint the node holds, cached by id (the expected blob shape). */
static pthread_mutex_t nparam_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
  uint8_t id[32];
  uint64_t n;
} nparam_cache[8];
static int nparam_next;

static int checkpoint_params(const char *home_dir, const uint8_t id[32], uint64_t *n) {
  pthread_mutex_lock(&nparam_mu);
  for (int i = 0; i < 8; i++)
    if (nparam_cache[i].n && !memcmp(nparam_cache[i].id, id, 32)) {
      *n = nparam_cache[i].n;
      pthread_mutex_unlock(&nparam_mu);
      return 0;
    }
  pthread_mutex_unlock(&nparam_mu);
  char dir[1100], path[1200];
  snprintf(dir, sizeof dir, "%s/models", home_dir);
  ag_models_path(dir, id, path, sizeof path);
  ag_model *m;
  int rc = ag_model_load(path, &m, NULL);
  if (rc) return rc;
  size_t np = 0;
  ag_model_params(m, &np);
  ag_model_close(m);
  *n = np;
  pthread_mutex_lock(&nparam_mu);
  memcpy(nparam_cache[nparam_next].id, id, 32);
  nparam_cache[nparam_next].n = np;
  nparam_next = (nparam_next + 1) % 8;
  pthread_mutex_unlock(&nparam_mu);
  return 0;
}

/* What the chain says of a blob: the subnet and round that announce (hash, size), and the
 * shape the blob must have. */
typedef struct {
  uint16_t netuid;
  uint64_t round;
  ag_pgrad_hdr expect;
  int shape_known;
} blob_ctx;

/* Fills b from the chain and the checkpoint at hand: AG_E_BLOB_NOT_ANNOUNCED when no open
 * round announces (hash, size), AG_E_PG_SHAPE when the size is not the round's (msg says). */
static int blob_lookup(ag_node *node, const uint8_t hash[32], uint64_t size, blob_ctx *b, char *msg, size_t cap) {
  ag_ist s = {ag_app_state(ag_node_app(node)), NULL};
  int rc = ag_state_view_open(s.st, &s.view);
  if (rc) {
    snprintf(msg, cap, "%s", ag_errmsg(rc));
    return AG_E_UNAVAILABLE;
  }
  memset(b, 0, sizeof *b);
  rc = ag_train_blob_announced(&s, hash, size, &b->netuid);
  ag_training t;
  ag_subnet sn;
  ag_subnet_model m;
  if (!rc && !(rc = ag_training_load(&s, b->netuid, &t))) {
    b->round = t.round;
    ag_training_free(&t);
    if (!(rc = ag_subnet_load(&s, b->netuid, &sn)) && !(rc = ag_subnet_model_load(&s, b->netuid, &m))) {
      b->expect.netuid = b->netuid;
      b->expect.chunk = AG_PGRAD_CHUNK;
      b->expect.k = sn.hp.train_k;
      b->expect.round = t.round;
      memcpy(b->expect.base, m.model_id, 32);
    }
  }
  ag_state_view_close(s.view);
  if (rc == AG_E_NOTFOUND) {
    char hex[65];
    ag_hex_encode(hash, 32, hex);
    snprintf(msg, cap, "no open round announces blob %s with %llu bytes", hex, (unsigned long long)size);
    return AG_E_BLOB_NOT_ANNOUNCED;
  }
  if (rc) {
    snprintf(msg, cap, "%s", ag_errmsg(rc));
    return rc;
  }
  /* with the checkpoint at hand the exact size is known: nothing else is a blob of this round */
  uint64_t n;
  if (checkpoint_params(ag_node_config_of(node)->home, b->expect.base, &n) == 0) {
    b->expect.n = n;
    b->shape_known = 1;
    size_t want = ag_pgrad_size(n, b->expect.chunk, b->expect.k);
    if (size != want) {
      snprintf(msg, cap, "a pseudo-gradient of this round is %zu bytes, not %llu", want, (unsigned long long)size);
      return AG_E_PG_SHAPE;
    }
  }
  return 0;
}

static int blob_announced(ag_http_req *req, const uint8_t hash[32], uint64_t size, blob_ctx *b,
                          ag_http_resp *resp) {
  char msg[200];
  int rc = blob_lookup(NODE(req), hash, size, b, msg, sizeof msg);
  if (rc)
    ag_http_error(resp,
                  rc == AG_E_BLOB_NOT_ANNOUNCED ? 403
                  : rc == AG_E_PG_SHAPE         ? 400
                  : rc == AG_E_UNAVAILABLE      ? 503
                                                : 500,
                  rc, msg);
  return rc ? -1 : 0;
}

static void blob_dir(const char *home_dir, uint16_t netuid, uint64_t round, char *out, size_t cap) {
  snprintf(out, cap, "%s/blobs/%u/%llu", home_dir, netuid, (unsigned long long)round);
}

/* The stored blob with this hash, in any round still kept. */
static int find_blob(const char *root, const char *hex, char *out, size_t cap) {
  DIR *d = opendir(root);
  if (!d) return 0;
  struct dirent *e;
  int found = 0;
  while (!found && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char sub[1300];
    if ((size_t)snprintf(sub, sizeof sub, "%s/%s", root, e->d_name) >= sizeof sub) continue;
    DIR *r = opendir(sub);
    if (!r) continue;
    struct dirent *x;
    while (!found && (x = readdir(r))) {
      if (x->d_name[0] == '.') continue;
      if ((size_t)snprintf(out, cap, "%s/%s/%s.pgrad", sub, x->d_name, hex) >= cap) continue;
      found = ag_file_exists(out);
    }
    closedir(r);
  }
  closedir(d);
  return found;
}

/* GET /v1/blobs/{hash} */
static void h_blob(ag_http_req *req, ag_http_resp *resp) {
  uint8_t hash[32];
  if (hex32(req->param, hash)) return ag_http_error(resp, 400, AG_E_INVALID, "a blob hash is 64 hex digits");
  char root[1100], path[1400];
  snprintf(root, sizeof root, "%s/blobs", home(req));
  if (!find_blob(root, req->param, path, sizeof path) || !ag_http_stream_file(resp, path))
    ag_http_error(resp, 404, AG_E_NOTFOUND, "this node does not hold that blob");
}

/* POST /v1/blobs/{hash}, admitted on its headers: an open round announces exactly that hash
 * and size, and the size is the round's pseudo-gradient size. */
static void blob_admit(ag_http_req *req, ag_http_resp *resp) {
  uint8_t hash[32];
  if (hex32(req->param, hash)) return ag_http_error(resp, 400, AG_E_INVALID, "POST /v1/blobs/{hash}: a blob hash is 64 hex digits");
  blob_ctx b;
  if (blob_announced(req, hash, req->body_len, &b, resp)) return;
  char dir[1100], path[1300];
  blob_dir(home(req), b.netuid, b.round, dir, sizeof dir);
  snprintf(path, sizeof path, "%s/%.64s.pgrad", dir, req->param);
  if (ag_file_exists(path))
    ag_http_json(resp, 200, json_pack("{s:s, s:I, s:i, s:b}", "hash", req->param, "size", (json_int_t)req->body_len,
                                      "netuid", b.netuid, "stored", 0));
}

/* Checks a spooled blob: its hash (computed as it arrived) and its format for the round. */
static int check_blob_file(const char *file, size_t len, const blob_ctx *b) {
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ag_fail(AG_E_IO, "cannot read the upload");
  void *p = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
  close(fd);
  if (p == MAP_FAILED) return ag_fail(AG_E_PG_MALFORMED, "the blob is empty or unreadable");
  int rc = ag_pgrad_check(p, len, b->shape_known ? &b->expect : NULL, 0, NULL);
  munmap(p, len);
  return rc;
}

static void blob_upload(ag_http_req *req, ag_http_resp *resp) {
  uint8_t hash[32];
  hex32(req->param, hash);
  if (memcmp(hash, req->body_hash, 32) != 0)
    return ag_http_error(resp, 400, AG_E_BLOB_MISMATCH, "the body does not hash to the blob named in the path");
  blob_ctx b;
  if (blob_announced(req, hash, req->body_len, &b, resp)) return; /* the round may have moved on */
  int rc = check_blob_file(req->body_file, req->body_len, &b);
  if (rc) return ag_http_error(resp, 400, rc, ag_errmsg(rc));
  char dir[1100], path[1300];
  blob_dir(home(req), b.netuid, b.round, dir, sizeof dir);
  snprintf(path, sizeof path, "%s/%.64s.pgrad", dir, req->param);
  if ((rc = ag_mkdirs(dir, 0755)) || rename(req->body_file, path))
    return ag_http_error(resp, 500, AG_E_IO, "cannot store the blob");
  ag_files_collect(NODE(req), 0);
  ag_http_json(resp, 201, json_pack("{s:s, s:I, s:i, s:b}", "hash", req->param, "size", (json_int_t)req->body_len,
                                    "netuid", b.netuid, "stored", 1));
}

/* ---- collection --------------------------------------------------------------------------- */

static pthread_mutex_t gc_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t gc_last_ms;

/* Is model id one to keep: pinned now, proposed in an open round, or canonical in one of the
 * last `horizon` rounds of a training subnet? */
static int keep_model(ag_ist *s, const uint8_t id[32], uint64_t horizon) {
  uint16_t list[AG_MAX_SUBNETS];
  size_t n = 0;
  if (ag_subnet_list(s, list, AG_MAX_SUBNETS, &n)) return 1; /* in doubt, keep */
  for (size_t i = 0; i < n; i++) {
    ag_subnet_model sm;
    if (ag_subnet_model_load(s, list[i], &sm) == 0 && !memcmp(sm.model_id, id, 32)) return 1;
    ag_training t;
    if (ag_training_load(s, list[i], &t)) continue;
    int keep = 0;
    for (uint16_t k = 0; k < t.nprops && !keep; k++) keep = !memcmp(t.props[k].model, id, 32);
    for (uint64_t k = 1; !keep && k <= horizon && k <= t.round; k++) {
      ag_train_round tr;
      if (ag_train_round_load(s, list[i], t.round - k, &tr) == 0) {
        keep = !memcmp(tr.model, id, 32) || !memcmp(tr.base, id, 32);
        ag_train_round_free(&tr);
      }
    }
    ag_training_free(&t);
    if (keep) return 1;
  }
  return 0; /* a proposal that lost, or a checkpoint older than the horizon */
}

int ag_files_collect(ag_node *node, int force) {
  const ag_node_config *cfg = ag_node_config_of(node);
  pthread_mutex_lock(&gc_mu);
  uint64_t t = ag_mono_ms();
  if (!force && t - gc_last_ms < 10000) {
    pthread_mutex_unlock(&gc_mu);
    return 0;
  }
  gc_last_ms = t;
  ag_ist s = {ag_app_state(ag_node_app(node)), NULL};
  int removed = 0, rc = 0;
  /* a CometBFT node before InitChain has no state yet: nothing it holds is known to be unwanted */
  if (ag_state_leaves(s.st) == 0) goto out;
  if ((rc = ag_state_view_open(s.st, &s.view))) goto out;
  uint64_t horizon = cfg->keep_rounds;
  /* blobs: HOME/blobs/<netuid>/<round>/, rounds older than the horizon go */
  char root[1100];
  snprintf(root, sizeof root, "%s/blobs", cfg->home);
  DIR *d = opendir(root);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    uint64_t netuid;
    if (ag_parse_u64(e->d_name, &netuid) || netuid > 65535) continue;
    ag_training tr;
    if (ag_training_load(&s, (uint16_t)netuid, &tr)) continue;
    uint64_t cur = tr.round;
    ag_training_free(&tr);
    char sub[1300];
    if ((size_t)snprintf(sub, sizeof sub, "%s/%s", root, e->d_name) >= sizeof sub) continue;
    DIR *r = opendir(sub);
    struct dirent *x;
    while (r && (x = readdir(r))) {
      uint64_t round;
      if (ag_parse_u64(x->d_name, &round) || round + horizon > cur) continue;
      char dir[1400];
      if ((size_t)snprintf(dir, sizeof dir, "%s/%s", sub, x->d_name) >= sizeof dir) continue;
      if (ag_rm_tree(dir)) ag_warn("files", "%s", ag_errmsg(AG_E_IO));
      removed++;
    }
    if (r) closedir(r);
  }
  if (d) closedir(d);
  /* checkpoints */
  snprintf(root, sizeof root, "%s/models", cfg->home);
  d = opendir(root);
  while (d && (e = readdir(d))) {
    uint8_t id[32];
    size_t nl = strlen(e->d_name);
    if (nl != 68 || strcmp(e->d_name + 64, ".agm") || ag_hex_decode(e->d_name, 64, id, 32)) continue;
    if (keep_model(&s, id, horizon)) continue;
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", root, e->d_name);
    if (unlink(path) == 0) removed++;
  }
  if (d) closedir(d);
  /* uploads a crash left behind in the spool */
  snprintf(root, sizeof root, "%s/tmp", cfg->home);
  d = opendir(root);
  while (d && (e = readdir(d))) {
    if (strncmp(e->d_name, "upload-", 7)) continue;
    char path[1400];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", root, e->d_name);
    if (stat(path, &st) == 0 && st.st_mtime + 3600 < time(NULL)) unlink(path);
  }
  if (d) closedir(d);
  ag_state_view_close(s.view);
  if (removed) ag_info("api", "collected %d old blob round(s) and checkpoint(s)", removed);
out:
  pthread_mutex_unlock(&gc_mu);
  return rc;
}

/* ---- fetching what the chain announces from other nodes --------------------------------------
 *
 * A trainer uploads its blob to the node it uses, a validator its proposed checkpoint to its
 * own; a neuron attached to another node must find them there too. A node with "file_peers"
 * therefore pulls, after every block (and every half second), each file the chain announces
 * that it lacks: the revealed blobs of open rounds, the checkpoints subnets pin and those
 * validators propose. It asks each peer's public API by content hash (GET /v1/blobs/{hash},
 * GET /v1/model-files/{id}), never accepts more bytes than the chain announced, and runs the
 * same checks as an upload (the hash, the pseudo-gradient's shape; the model loads and has its
 * id) before it keeps the file. A file no peer serves yet is asked for again with a backoff
 * (0.5 s doubling to 4 s): reveals land before uploads. One file at a time. */

enum { WANT_MODEL, WANT_BLOB };

typedef struct {
  int kind;
  uint8_t hash[32];
  uint64_t size;
} want;

typedef struct {
  uint8_t hash[32];
  uint64_t next_ms;
  uint32_t delay_ms;
} fetch_retry;

#define SYNC_RETRIES 256
#define SYNC_WANTS_MAX 4096

struct ag_files_sync {
  ag_node *node;
  pthread_t th;
  atomic_int stop;
  fetch_retry retry[SYNC_RETRIES];
  uint32_t peer_fails[AG_FILE_PEERS_MAX]; /* consecutive failures: peers that fail are asked last */
};

static atomic_uint_fast64_t fetched_blobs, fetched_models, fetch_failures;

void ag_files_sync_stats(uint64_t *blobs, uint64_t *models, uint64_t *failures) {
  *blobs = fetched_blobs;
  *models = fetched_models;
  *failures = fetch_failures;
}

static fetch_retry *retry_of(ag_files_sync *fs, const uint8_t hash[32], int create) {
  fetch_retry *oldest = &fs->retry[0];
  for (int i = 0; i < SYNC_RETRIES; i++) {
    if (fs->retry[i].delay_ms && !memcmp(fs->retry[i].hash, hash, 32)) return &fs->retry[i];
    if (fs->retry[i].next_ms < oldest->next_ms) oldest = &fs->retry[i];
  }
  if (!create) return NULL;
  memset(oldest, 0, sizeof *oldest); /* the table is full: forget the one due first */
  memcpy(oldest->hash, hash, 32);
  return oldest;
}

static void add_want(want **w, size_t *n, int kind, const uint8_t hash[32], uint64_t size) {
  if (*n >= SYNC_WANTS_MAX || !size) return;
  for (size_t i = 0; i < *n; i++)
    if (!memcmp((*w)[i].hash, hash, 32)) return;
  (*w)[*n].kind = kind;
  memcpy((*w)[*n].hash, hash, 32);
  (*w)[*n].size = size;
  (*n)++;
}

/* What the chain announces now: pinned and proposed checkpoints, then revealed blobs. */
static int wants_now(ag_node *node, want **w, size_t *n) {
  ag_ist s = {ag_app_state(ag_node_app(node)), NULL};
  int rc = ag_state_view_open(s.st, &s.view);
  if (rc) return rc;
  uint16_t list[AG_MAX_SUBNETS];
  size_t ns = 0;
  *n = 0;
  if (ag_subnet_list(&s, list, AG_MAX_SUBNETS, &ns) == 0) {
    for (size_t i = 0; i < ns; i++) {
      ag_subnet_model sm;
      if (ag_subnet_model_load(&s, list[i], &sm) == 0) add_want(w, n, WANT_MODEL, sm.model_id, sm.size);
    }
    for (size_t i = 0; i < ns; i++) {
      ag_training t;
      if (ag_training_load(&s, list[i], &t)) continue;
      for (uint16_t k = 0; k < t.nprops; k++) add_want(w, n, WANT_MODEL, t.props[k].model, t.props[k].size);
      for (uint16_t k = 0; k < t.nsubs; k++)
        if (t.subs[k].revealed) add_want(w, n, WANT_BLOB, t.subs[k].blob, t.subs[k].size);
      ag_training_free(&t);
    }
  }
  ag_state_view_close(s.view);
  return 0;
}

static int have_file(const char *home_dir, const want *w) {
  char path[1400], hex[65];
  if (w->kind == WANT_MODEL) {
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/models", home_dir);
    ag_models_path(dir, w->hash, path, sizeof path);
    return ag_file_exists(path);
  }
  snprintf(path, sizeof path, "%s/blobs", home_dir);
  ag_hex_encode(w->hash, 32, hex);
  char found[1400];
  return find_blob(path, hex, found, sizeof found);
}

/* Checks a downloaded blob against the chain and moves it where uploads go. */
static int adopt_blob(ag_node *node, const char *tmp, const want *w) {
  const char *home_dir = ag_node_config_of(node)->home;
  struct stat st;
  if (stat(tmp, &st) || (uint64_t)st.st_size != w->size)
    return ag_fail(AG_E_BLOB_MISMATCH, "the peer served %lld bytes, the chain announced %llu",
                   (long long)st.st_size, (unsigned long long)w->size);
  int fd = open(tmp, O_RDONLY | O_CLOEXEC);
  void *p = fd >= 0 ? mmap(NULL, w->size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
  if (fd >= 0) close(fd);
  if (p == MAP_FAILED) return ag_fail(AG_E_IO, "cannot read %s", tmp);
  uint8_t h[32];
  ag_hash(AG_BLOB_DOMAIN, p, w->size, h);
  munmap(p, w->size);
  if (memcmp(h, w->hash, 32)) return ag_fail(AG_E_BLOB_MISMATCH, "the peer served bytes that do not hash to the blob");
  blob_ctx b;
  char msg[200];
  int rc = blob_lookup(node, w->hash, w->size, &b, msg, sizeof msg);
  if (rc) return ag_fail(rc, "%s", msg);
  if ((rc = check_blob_file(tmp, w->size, &b))) return rc;
  char dir[1100], path[1300], hex[65];
  ag_hex_encode(w->hash, 32, hex);
  blob_dir(home_dir, b.netuid, b.round, dir, sizeof dir);
  snprintf(path, sizeof path, "%s/%s.pgrad", dir, hex);
  if ((rc = ag_mkdirs(dir, 0755)) || rename(tmp, path)) return rc ? rc : ag_fail(AG_E_IO, "cannot store the blob");
  return 0;
}

/* Asks each peer in turn for one file; 0 once a peer served it and it passed every check. */
static int fetch_one(ag_files_sync *fs, const want *w) {
  const ag_node_config *cfg = ag_node_config_of(fs->node);
  char hex[65], spool[1100], tmp[1300], models[1100];
  ag_hex_encode(w->hash, 32, hex);
  snprintf(spool, sizeof spool, "%s/tmp", cfg->home);
  snprintf(models, sizeof models, "%s/models", cfg->home);
  snprintf(tmp, sizeof tmp, "%s/upload-fetch-%.16s", spool, hex); /* collected like a stale upload */
  int rc = ag_mkdirs(spool, 0755);
  if (rc) return rc;
  if (w->kind == WANT_MODEL && (rc = ag_mkdirs(models, 0755))) return rc;
  /* a floor of 1 MB/s: a peer that trickles bytes is given up on */
  int timeout_ms = (int)(10000 + (w->size / 1000 < 290000 ? w->size / 1000 : 290000));
  /* the peers that answered lately first: one that is down or slow costs each file its timeout */
  int order[AG_FILE_PEERS_MAX];
  for (int i = 0; i < cfg->nfile_peers; i++) {
    int k = i;
    while (k > 0 && fs->peer_fails[order[k - 1]] > fs->peer_fails[i]) {
      order[k] = order[k - 1];
      k--;
    }
    order[k] = i;
  }
  rc = AG_E_NOTFOUND;
  for (int j = 0; j < cfg->nfile_peers && !fs->stop; j++) {
    int i = order[j];
    char url[600];
    snprintf(url, sizeof url, "%s/v1/%s/%s", cfg->file_peers[i], w->kind == WANT_MODEL ? "model-files" : "blobs", hex);
    long status;
    rc = ag_http_download(url, tmp, w->size, timeout_ms, 0, &status); /* peers its operator named */
    if (rc) { /* not there (yet), or not reachable: the next peer */
      if (status != 404 && fs->peer_fails[i] < 1000) fs->peer_fails[i]++; /* a 404 is an answer */
      continue;
    }
    if (w->kind == WANT_MODEL) {
      uint8_t got[32];
      rc = ag_models_adopt(models, tmp, w->hash, got); /* the file is gone afterwards either way */
    } else {
      rc = adopt_blob(fs->node, tmp, w);
      unlink(tmp);
    }
    if (!rc) {
      fs->peer_fails[i] = 0;
      ag_info("files", "fetched %s %.16s… (%llu bytes) from %s", w->kind == WANT_MODEL ? "checkpoint" : "blob", hex,
              (unsigned long long)w->size, cfg->file_peers[i]);
      atomic_fetch_add(w->kind == WANT_MODEL ? &fetched_models : &fetched_blobs, 1);
      return 0;
    }
    atomic_fetch_add(&fetch_failures, 1);
    if (fs->peer_fails[i] < 1000) fs->peer_fails[i] += 10; /* served bytes that fail their checks */
    ag_warn("files", "%s served %.16s… but it failed its checks: %s", cfg->file_peers[i], hex, ag_errmsg(rc));
  }
  return rc;
}

static void sync_pass(ag_files_sync *fs) {
  want *w = ag_xcalloc(SYNC_WANTS_MAX, sizeof *w);
  size_t n = 0;
  const char *home_dir = ag_node_config_of(fs->node)->home;
  if (wants_now(fs->node, &w, &n) == 0) {
    for (size_t i = 0; i < n && !fs->stop; i++) {
      if (have_file(home_dir, &w[i])) continue;
      uint64_t now = ag_mono_ms();
      fetch_retry *r = retry_of(fs, w[i].hash, 0);
      if (r && r->next_ms > now) continue;
      if (fetch_one(fs, &w[i]) == 0) {
        if (r) r->delay_ms = 0;
        continue;
      }
      r = retry_of(fs, w[i].hash, 1);
      r->delay_ms = r->delay_ms ? (r->delay_ms * 2 > 4000 ? 4000 : r->delay_ms * 2) : 500;
      r->next_ms = ag_mono_ms() + r->delay_ms;
    }
  }
  free(w);
}

static void *sync_main(void *arg) {
  ag_files_sync *fs = arg;
  uint64_t h = 0;
  while (!fs->stop && !ag_node_stopping(fs->node)) {
    h = ag_node_wait_height(fs->node, h, 500);
    if (!fs->stop) sync_pass(fs);
  }
  ag_http_client_cleanup();
  return NULL;
}

int ag_files_sync_start(ag_node *node, ag_files_sync **out) {
  *out = NULL;
  if (ag_node_config_of(node)->nfile_peers == 0) return 0;
  ag_files_sync *fs = ag_xcalloc(1, sizeof *fs);
  fs->node = node;
  int rc = pthread_create(&fs->th, NULL, sync_main, fs);
  if (rc) {
    free(fs);
    return ag_fail(AG_E_INTERNAL, "cannot start the file fetching thread: %s", strerror(rc));
  }
  *out = fs;
  return 0;
}

void ag_files_sync_stop(ag_files_sync *fs) {
  if (!fs) return;
  fs->stop = 1;
  pthread_join(fs->th, NULL);
  free(fs);
}

const ag_http_route ag_files_routes[] = {
    {"GET", "/v1/model-files/", h_model_file, 0},
    {"POST", "/v1/model-files/", model_upload, AG_MODELS_MAX, model_admit, NULL},
    {"GET", "/v1/blobs/", h_blob, 0},
    {"POST", "/v1/blobs/", blob_upload, (size_t)256 << 20, blob_admit, AG_BLOB_DOMAIN},
};
const size_t ag_files_nroutes = sizeof ag_files_routes / sizeof ag_files_routes[0];
