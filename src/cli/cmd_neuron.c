/* cmd_neuron.c — `agora miner`, `agora validator` and `agora infer` (the inference subnet). */
#include "api/models.h"
#include "api/http.h"
#include "chain/json.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "crypto/keystore.h"
#include "subnets/inference.h"
#include "subnets/miner.h"
#include "subnets/netclient.h"
#include "subnets/neuron.h"
#include "subnets/payment.h"
#include "cli/txsubmit.h"
#include "economy/economy.h"
#include "subnets/tminer.h"
#include "subnets/tvalidator.h"
#include "subnets/validator.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int opt_int(const ag_cli *c, const char *s, const char *name, long lo, long hi, int *out) {
  uint64_t v;
  if (!s) return 0;
  if (ag_parse_u64(s, &v) || (long)v < lo || (long)v > hi)
    return ag_cli_fail(c, AG_E_USAGE, "--%s must be %ld..%ld", name, lo, hi);
  *out = (int)v;
  return 0;
}

/* Encrypted keys: the passphrase comes from --passphrase-fd, AGORA_PASSPHRASE (both taken at
 * start), --passphrase-file or a prompt, and is handed to the long-running part in memory
 * (ag_neuron_set_passphrase), never through the environment; neuron_done wipes it. One
 * passphrase serves the hotkey and the coldkey, as before. */
static int neuron_passphrase(const ag_cli *c, const char *key) {
  static bool have;
  if (have) return 0;
  char dir[1100];
  snprintf(dir, sizeof dir, "%s/keys", c->home);
  ag_keyinfo info;
  if (ag_keystore_info(dir, key, &info) || info.insecure) return 0;
  char prompt[160];
  snprintf(prompt, sizeof prompt, "passphrase for %s: ", key);
  char *p = ag_cli_passphrase(c, prompt, false);
  if (!p)
    return ag_cli_fail(c, AG_E_PASSPHRASE_REQUIRED,
                       "key %s is encrypted: set AGORA_PASSPHRASE, or use --passphrase-file or "
                       "--passphrase-fd", key);
  int rc = ag_neuron_set_passphrase(p);
  ag_cli_passphrase_free(p);
  if (rc) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  have = true;
  return 0;
}

static int neuron_done(int rc) {
  ag_neuron_set_passphrase(NULL);
  return rc ? ag_cli_exit_code(rc) : 0;
}

/* ---- signals: a thread takes SIGINT/SIGTERM and raises the stop flag -------------------------- */

static volatile int g_stop;

static void *signal_thread(void *arg) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig;
  sigwait(&set, &sig);
  g_stop = 1;
  return NULL;
}

static pthread_t block_signals(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  pthread_t t;
  pthread_create(&t, NULL, signal_thread, NULL);
  return t;
}

static void end_signals(pthread_t t) {
  pthread_kill(t, SIGTERM);
  pthread_join(t, NULL);
}

/* ---- agora miner ---------------------------------------------------------------------------- */

static const char miner_usage[] =
    "usage: agora miner --subnet N --hotkey NAME [--coldkey NAME] [--listen HOST:PORT]\n"
    "                   [--announce-host HOST] [--workers N] [--threads N] [--queue N]\n"
    "                   [--api-key KEY] [--models DIR]\n"
    "       agora miner --subnet N --role trainer --hotkey NAME [--coldkey NAME] [--threads N]\n"
    "                   [--listen HOST:PORT] [--announce-host HOST] [--status FILE] [--models DIR]\n\n"
    "Serves the subnet's pinned model with an OpenAI-compatible API (/v1/models,\n"
    "/v1/completions, /v1/chat/completions, streaming with stream: true) and signs every answer\n"
    "with a verifiable receipt (docs/subnet-inference.md). On start it registers the hotkey if\n"
    "needed (paid by --coldkey), fetches the model by its content id from the node or other\n"
    "miners and checks it, then announces its endpoint on chain. Ctrl-C stops it.\n\n"
    "With --role trainer it trains on a training subnet instead (docs/subnet-training.md):\n"
    "every round it fetches the canonical checkpoint, runs the subnet's inner AdamW steps on\n"
    "the data shard the round assigns to its hotkey, compresses the pseudo-gradient (top-k\n"
    "with error feedback), announces its hash on chain and uploads it to the node. It serves\n"
    "its blob and checkpoints to peers whose node lacks them on --listen (announced).\n\n"
    "  --subnet N          the subnet (default 1; 2 with --role trainer)\n"
    "  --role ROLE         server (default: serve inference) or trainer\n"
    "  --status FILE       (trainer) write its state as JSON after every round\n"
    "  --hotkey NAME       key that signs answers and the endpoint tx (pays its fee)\n"
    "  --coldkey NAME      key that pays the registration when the hotkey is new\n"
    "  --listen HOST:PORT  where to serve (default 127.0.0.1:0 = any free port)\n"
    "  --announce-host H   the host others reach this miner at (default the listen host)\n"
    "  --workers N         concurrent generations (default 1)\n"
    "  --threads N         engine threads per generation (default 1)\n"
    "  --queue N           waiting requests before answering 503 (default 64)\n"
    "  --api-key KEY       require 'Authorization: Bearer KEY' on /v1 routes\n"
    "  --models DIR        model cache (default HOME/models)\n";

int ag_cmd_miner(ag_cli *c, int argc, char **argv) {
  const char *subnet = NULL, *hotkey = NULL, *coldkey = NULL, *listen = NULL, *host = NULL,
             *workers = NULL, *threads = NULL, *queue = NULL, *key = NULL, *models = NULL,
             *slow = NULL, *role = NULL, *status = NULL;
  bool cheat = false, free_rider = false, front_runner = false, blender = false, relay = false;
  ag_opt opts[] = {{"subnet", 0, 1, &subnet, NULL},   {"hotkey", 0, 1, &hotkey, NULL},
                   {"coldkey", 0, 1, &coldkey, NULL}, {"listen", 0, 1, &listen, NULL},
                   {"announce-host", 0, 1, &host, NULL}, {"workers", 0, 1, &workers, NULL},
                   {"threads", 0, 1, &threads, NULL}, {"queue", 0, 1, &queue, NULL},
                   {"api-key", 0, 1, &key, NULL},     {"models", 0, 1, &models, NULL},
                   /* devnet behaviours, not in the help */
                   {"cheat", 0, 0, NULL, &cheat},     {"slow-ms", 0, 1, &slow, NULL},
                   {"relay", 0, 0, NULL, &relay},
                   {"free-rider", 0, 0, NULL, &free_rider}, {"front-runner", 0, 0, NULL, &front_runner},
                   {"blender", 0, 0, NULL, &blender},
                   {"role", 0, 1, &role, NULL},       {"status", 0, 1, &status, NULL},
                   {"", 0, 0, NULL, NULL}};
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 0, &npos);
  if (rc) return rc;
  if (c->help) return ag_cli_usage(c, miner_usage);
  if (!hotkey) return ag_cli_fail(c, AG_E_USAGE, "--hotkey NAME is required (see --help)");
  if (role && strcmp(role, "trainer") && strcmp(role, "server"))
    return ag_cli_fail(c, AG_E_USAGE, "--role is server or trainer");
  if (role && !strcmp(role, "trainer")) {
    ag_tminer_config tc;
    ag_tminer_config_default(&tc);
    int tn = tc.netuid;
    if ((rc = opt_int(c, subnet, "subnet", 0, 65535, &tn)) ||
        (rc = opt_int(c, threads, "threads", 1, 256, &tc.threads)))
      return rc;
    tc.netuid = (uint16_t)tn;
    tc.behaviour = free_rider     ? AG_TRAINER_FREE_RIDER
                   : front_runner ? AG_TRAINER_FRONT_RUNNER
                   : blender      ? AG_TRAINER_BLENDER
                                  : AG_TRAINER_HONEST;
    snprintf(tc.home, sizeof tc.home, "%s", c->home);
    if (c->node[0]) ag_cli_node_url(c, tc.node_url, sizeof tc.node_url);
    snprintf(tc.hotkey, sizeof tc.hotkey, "%s", hotkey);
    if (coldkey) snprintf(tc.coldkey, sizeof tc.coldkey, "%s", coldkey);
    if (status) snprintf(tc.status_path, sizeof tc.status_path, "%s", status);
    if (models) snprintf(tc.model_dir, sizeof tc.model_dir, "%s", models);
    if (listen) snprintf(tc.listen, sizeof tc.listen, "%s", listen);
    if (host) snprintf(tc.announce_host, sizeof tc.announce_host, "%s", host);
    if ((rc = neuron_passphrase(c, hotkey)) || (coldkey && (rc = neuron_passphrase(c, coldkey))))
      return ag_neuron_set_passphrase(NULL), rc;
    pthread_t st = block_signals();
    rc = ag_tminer_run(&tc, &g_stop);
    end_signals(st);
    return neuron_done(rc);
  }
  ag_miner_config cfg;
  ag_miner_config_default(&cfg);
  int netuid = cfg.netuid;
  if ((rc = opt_int(c, subnet, "subnet", 0, 65535, &netuid)) ||
      (rc = opt_int(c, workers, "workers", 1, 256, &cfg.workers)) ||
      (rc = opt_int(c, threads, "threads", 1, 256, &cfg.threads)) ||
      (rc = opt_int(c, queue, "queue", 1, 100000, &cfg.queue_max)) ||
      (rc = opt_int(c, slow, "slow-ms", 0, 600000, &cfg.slow_ms)))
    return rc;
  cfg.netuid = (uint16_t)netuid;
  cfg.cheat = cheat;
  cfg.relay = relay;
  snprintf(cfg.home, sizeof cfg.home, "%s", c->home);
  if (c->node[0]) ag_cli_node_url(c, cfg.node_url, sizeof cfg.node_url);
  snprintf(cfg.hotkey, sizeof cfg.hotkey, "%s", hotkey);
  if (coldkey) snprintf(cfg.coldkey, sizeof cfg.coldkey, "%s", coldkey);
  if (listen) snprintf(cfg.listen, sizeof cfg.listen, "%s", listen);
  if (host) snprintf(cfg.announce_host, sizeof cfg.announce_host, "%s", host);
  if (key) snprintf(cfg.api_key, sizeof cfg.api_key, "%s", key);
  if (models) snprintf(cfg.model_dir, sizeof cfg.model_dir, "%s", models);
  if ((rc = neuron_passphrase(c, hotkey)) || (coldkey && (rc = neuron_passphrase(c, coldkey))))
    return ag_neuron_set_passphrase(NULL), rc;
  pthread_t st = block_signals();
  rc = ag_miner_run(&cfg, &g_stop);
  end_signals(st);
  return neuron_done(rc);
}

/* ---- agora validator ------------------------------------------------------------------------ */

static const char validator_usage[] =
    "usage: agora validator --subnet N --hotkey NAME [--coldkey NAME] [--threads N]\n"
    "                       [--interval-ms MS] [--timeout-ms MS] [--status FILE] [--models DIR]\n"
    "                       [--listen HOST:PORT] [--announce-host HOST]\n\n"
    "Validates the subnet by its kind. A training subnet (docs/subnet-training.md): when a\n"
    "round's submissions close it fetches every pseudo-gradient, refuses bad and copied ones,\n"
    "scores the rest by the loss they bring on the trainer's own shard versus a random one,\n"
    "aggregates the best with an outer Nesterov step and proposes the next checkpoint, which\n"
    "it also serves to peers on --listen (announced; default 127.0.0.1:0).\n"
    "An inference subnet: each round it sends every serving miner the same fresh\n"
    "challenge (a prompt from the validation corpus, random seed and sampling parameters),\n"
    "checks each answer's signature and receipt, re-executes the receipt, and keeps a moving\n"
    "average score per miner (a wrong answer zeroes it for the rest of the epoch; a slow one\n"
    "scores less; a missing one 0). Once per epoch it sets weights from the scores, by\n"
    "commit-reveal when the subnet uses it. The hotkey needs a validator permit (stake) to set\n"
    "weights and a balance for the fees. Ctrl-C stops it.\n\n"
    "  --subnet N          the subnet (default 1)\n"
    "  --hotkey NAME       the validator's hotkey\n"
    "  --coldkey NAME      key that pays the registration when the hotkey is new\n"
    "  --threads N         engine threads for re-execution (default 1)\n"
    "  --interval-ms MS    pause between challenge rounds (default 2000)\n"
    "  --timeout-ms MS     per miner request (default 20000)\n"
    "  --status FILE       write the scores as JSON after every round\n"
    "  --models DIR        model cache (default HOME/models)\n";

int ag_cmd_validator(ag_cli *c, int argc, char **argv) {
  const char *subnet = NULL, *hotkey = NULL, *coldkey = NULL, *threads = NULL, *interval = NULL,
             *timeout = NULL, *status = NULL, *models = NULL, *listen = NULL, *host = NULL;
  ag_opt opts[] = {{"subnet", 0, 1, &subnet, NULL},     {"hotkey", 0, 1, &hotkey, NULL},
                   {"listen", 0, 1, &listen, NULL},     {"announce-host", 0, 1, &host, NULL},
                   {"coldkey", 0, 1, &coldkey, NULL},   {"threads", 0, 1, &threads, NULL},
                   {"interval-ms", 0, 1, &interval, NULL}, {"timeout-ms", 0, 1, &timeout, NULL},
                   {"status", 0, 1, &status, NULL},     {"models", 0, 1, &models, NULL},
                   {"", 0, 0, NULL, NULL}};
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 0, &npos);
  if (rc) return rc;
  if (c->help) return ag_cli_usage(c, validator_usage);
  if (!hotkey) return ag_cli_fail(c, AG_E_USAGE, "--hotkey NAME is required (see --help)");
  ag_validator_config cfg;
  ag_validator_config_default(&cfg);
  int netuid = cfg.netuid;
  if ((rc = opt_int(c, subnet, "subnet", 0, 65535, &netuid)) ||
      (rc = opt_int(c, threads, "threads", 1, 256, &cfg.threads)) ||
      (rc = opt_int(c, interval, "interval-ms", 0, 3600000, &cfg.interval_ms)) ||
      (rc = opt_int(c, timeout, "timeout-ms", 100, 3600000, &cfg.timeout_ms)))
    return rc;
  cfg.netuid = (uint16_t)netuid;
  snprintf(cfg.home, sizeof cfg.home, "%s", c->home);
  if (c->node[0]) ag_cli_node_url(c, cfg.node_url, sizeof cfg.node_url);
  snprintf(cfg.hotkey, sizeof cfg.hotkey, "%s", hotkey);
  if (coldkey) snprintf(cfg.coldkey, sizeof cfg.coldkey, "%s", coldkey);
  if (status) snprintf(cfg.status_path, sizeof cfg.status_path, "%s", status);
  if (models) snprintf(cfg.model_dir, sizeof cfg.model_dir, "%s", models);
  if (listen) snprintf(cfg.listen, sizeof cfg.listen, "%s", listen);
  if (host) snprintf(cfg.announce_host, sizeof cfg.announce_host, "%s", host);
  if ((rc = neuron_passphrase(c, hotkey)) || (coldkey && (rc = neuron_passphrase(c, coldkey))))
    return ag_neuron_set_passphrase(NULL), rc;
  int training = 0;
  { /* the kind decides the protocol */
    ag_net net;
    char url[256], path[64];
    if (cfg.node_url[0]) snprintf(url, sizeof url, "%s", cfg.node_url);
    else ag_net_url_of_home(cfg.home, url, sizeof url);
    json_t *sj;
    snprintf(path, sizeof path, "/v1/subnets/%u", cfg.netuid);
    for (int i = 0; i < 30; i++) {
      if (ag_net_open(&net, url) == 0 && ag_net_get(&net, path, &sj) == 0) {
        const char *kind = json_string_value(json_object_get(json_object_get(sj, "model"), "kind"));
        training = kind && !strcmp(kind, "training");
        json_decref(sj);
        break;
      }
      ag_sleep_ms(500);
    }
  }
  if (training && !interval) cfg.interval_ms = 300; /* polls the round */
  pthread_t st = block_signals();
  rc = training ? ag_tvalidator_run(&cfg, &g_stop) : ag_validator_run(&cfg, &g_stop);
  end_signals(st);
  return neuron_done(rc);
}

/* ---- agora infer ------------------------------------------------------------------------------ */

static const char infer_usage[] =
    "usage: agora infer [--subnet N] [--chat] [-n MAX_TOKENS] [--temperature T] [--top-p P]\n"
    "                   [--top-k K] [--seed S] [--stop TEXT] [--miner UID] [--no-verify]\n"
    "                   [--threads N] PROMPT\n\n"
    "Asks the subnet for a completion: picks a miner at random in proportion to its incentive\n"
    "(uniformly while nobody has any), sends an OpenAI-style request, and checks the answer:\n"
    "the miner's signature, that it answers this request, and the receipt by re-executing it\n"
    "with the subnet's model (fetched once into HOME/models and checked by its id). A miner\n"
    "that fails is reported and another one is asked (up to 3).\n\n"
    "  --subnet N        the inference subnet (default 1)\n"
    "  --chat            use /v1/chat/completions with PROMPT as the user's message\n"
    "  -n, --max-tokens  tokens to generate (default 64)\n"
    "  --temperature T   0..2 (default 0.8)\n"
    "  --top-p P         (0, 1] (default 0.95)\n"
    "  --top-k K         0 = off (default 40)\n"
    "  --seed S          sampling seed (default random; the receipt records it)\n"
    "  --stop TEXT       stop before this text\n"
    "  --miner UID       ask this uid first\n"
    "  --no-verify       print the answer without checking it\n"
    "  --threads N       engine threads for the check (default 2)\n"
    "  --pay-from KEY    pay miners that charge (an offer on chain) from this key, through a\n"
    "                    payment channel per miner opened on first use (asks once, showing\n"
    "                    the deposit and the price) and kept in HOME/channels\n"
    "  --deposit AGR     what a new channel holds (default: 100 times this request's most)\n"
    "  --dispute         when a paid answer fails the check, dispute it at once (a bond of\n"
    "                    --dispute-bond AGR, default the chain's least, from the --pay-from key);\n"
    "                    without it the evidence is kept in HOME/disputes for 'agora dispute'\n"
    "  --dispute-bond AGR\n";

typedef struct {
  int uid;
  char hotkey[AG_ADDR_MAX];
  char url[200];
  double incentive;
  int tried;
} candidate;

static int pick(candidate *cs, int n) {
  double total = 0;
  int open = 0;
  for (int i = 0; i < n; i++)
    if (!cs[i].tried) total += cs[i].incentive, open++;
  if (!open) return -1;
  if (total <= 0) { /* nobody earns yet: uniformly */
    int k = (int)randombytes_uniform((uint32_t)open);
    for (int i = 0; i < n; i++)
      if (!cs[i].tried && k-- == 0) return i;
  }
  double r = randombytes_uniform(1u << 30) / (double)(1u << 30) * total;
  int last = -1;
  for (int i = 0; i < n; i++) {
    if (cs[i].tried) continue;
    last = i;
    if (r < cs[i].incentive) return i;
    r -= cs[i].incentive;
  }
  return last;
}

/* ---- paying miners that charge (payment.h, docs/economy.md "Paid requests") ----------------- */

typedef struct {
  ag_cli *c;
  ag_net *net;
  const char *key, *deposit;
  ag_keypair k;
  int have_key;
  uint8_t model[32];
  json_t *offers; /* GET /v1/offers?model= */
  /* the request in flight */
  ag_pay_client cl;
  char path[1200];
  ag_offer offer;
  uint64_t seq, cumulative, most;
  char header[2 * AG_VOUCHER_MAX + 1];
} payer;

/* The offer of hotkey (an address) for the model: 1 when it charges. */
static int payer_offer(payer *p, const char *hotkey, ag_offer *o) {
  json_t *arr = json_object_get(p->offers, "offers");
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *x = json_array_get(arr, i);
    const char *pv = json_string_value(json_object_get(x, "provider"));
    if (!pv || strcmp(pv, hotkey) || ag_addr_decode(pv, o->hotkey)) continue;
    memcpy(o->model, p->model, 32);
    o->price_in = ag_json_u64_of(x, "price_in_per_1k");
    o->price_out = ag_json_u64_of(x, "price_out_per_1k");
    o->max_tokens = (uint32_t)json_integer_value(json_object_get(x, "max_tokens"));
    return 1;
  }
  return 0;
}

static int payer_key(payer *p) {
  if (p->have_key) return 0;
  int rc = ag_cli_load_signer(p->c, p->key, p->net->chain_id, &p->k);
  if (!rc) p->have_key = 1;
  return rc;
}

/* Opens (or tops up) the channel to o's provider so that it holds at least need more than what
 * was billed: asks once, showing the deposit and the price; waits for the commit. */
static int payer_fund(payer *p, int open, uint64_t need) {
  uint64_t amount = 100 * p->most, min_dep = AG_UNIT / 1000;
  json_t *ep;
  if (!ag_net_get(p->net, "/v1/economy", &ep)) {
    min_dep = ag_json_u64_of(ep, "min_deposit");
    json_decref(ep);
  }
  if (p->deposit && ag_amount_parse(p->deposit, &amount)) return ag_fail(AG_E_USAGE, "--deposit must be an amount of AGR");
  if (amount < need) amount = need;
  if (open && amount < min_dep) amount = min_dep;
  char a[32], pin[32], pout[32], most[32], addr[AG_ADDR_MAX], q[400];
  ag_amount_format(amount, a);
  ag_amount_format(p->offer.price_in, pin);
  ag_amount_format(p->offer.price_out, pout);
  ag_amount_format(p->most, most);
  ag_addr_encode(p->offer.hotkey, addr);
  snprintf(q, sizeof q,
           "Miner %s charges %s AGR per 1,000 prompt tokens and %s per 1,000 output tokens (this request: at most %s AGR).\n"
           "%s a payment channel with %s AGR from '%s'?",
           addr, pin, pout, most, open ? "Open" : "Top up", a, p->key);
  if (!ag_cli_confirm(p->c, q)) return ag_fail(AG_E_CANCELLED, "cancelled; nothing was paid");
  int rc = payer_key(p);
  if (rc) return rc;
  ag_buf pl;
  ag_buf_init(&pl);
  if (open) {
    char path[160], me[AG_ADDR_MAX];
    ag_addr_encode(p->k.pk, me);
    snprintf(path, sizeof path, "/v1/accounts/%s", me);
    json_t *acct;
    if ((rc = ag_net_get(p->net, path, &acct))) return rc;
    uint64_t nonce = ag_json_u64_of(acct, "pending_nonce");
    json_decref(acct);
    memset(&p->cl, 0, sizeof p->cl);
    ag_channel_id(p->net->chain_id, p->k.pk, nonce, p->cl.channel);
    memcpy(p->cl.provider, p->offer.hotkey, 32);
    memcpy(p->cl.model, p->model, 32);
    ag_payload_channel_open(&pl, p->offer.hotkey, NULL, p->model, amount, 600, 0);
  } else {
    ag_payload_channel_fund(&pl, p->cl.channel, amount);
  }
  uint8_t hash[32];
  int code = 0;
  rc = ag_net_submit(p->net, &p->k, open ? AG_TX_CHANNEL_OPEN : AG_TX_CHANNEL_FUND, pl.data, pl.len, 60000, hash, &code);
  ag_buf_free(&pl);
  if (!rc && code) rc = ag_fail(code, "the chain refused the channel %s: %s", open ? "open" : "top-up", ag_errmsg(code));
  if (rc) return rc;
  p->cl.deposit += amount;
  if (!p->c->json) fprintf(stderr, "%s channel to %s: %s AGR\n", open ? "opened a" : "topped up the", addr, a);
  return ag_pay_client_save(p->path, &p->cl);
}

/* Before sending to a miner with offer o: the voucher header for this request (most = the
 * request's most cost). The client's book is written before the voucher leaves. */
static int payer_prepare(payer *p, const ag_offer *o, uint64_t n_prompt, uint64_t max_tokens) {
  p->offer = *o;
  int rc = ag_offer_cost(o, n_prompt, max_tokens, &p->most);
  if (rc) return rc;
  if ((rc = payer_key(p))) return rc;
  ag_pay_client_path(p->c->home, p->k.pk, o->hotkey, p->model, p->path, sizeof p->path);
  rc = ag_pay_client_load(p->path, &p->cl);
  if (rc == AG_E_NOTFOUND) rc = payer_fund(p, 1, p->most);
  else if (!rc && p->cl.deposit - (p->cl.billed < p->cl.deposit ? p->cl.billed : p->cl.deposit) < p->most)
    rc = payer_fund(p, 0, p->most);
  if (!rc) rc = payer_key(p);
  if (rc) return rc;
  p->seq = p->cl.seq + 1;
  p->cumulative = p->cl.billed + p->most;
  p->cl.seq = p->seq;
  if (p->cumulative > p->cl.signed_max) p->cl.signed_max = p->cumulative;
  if ((rc = ag_pay_client_save(p->path, &p->cl))) return rc;
  ag_buf v;
  ag_buf_init(&v);
  ag_voucher_sign(&v, p->net->chain_id, p->cl.channel, p->cumulative, p->seq, &p->k);
  ag_hex_encode(v.data, v.len, p->header);
  ag_buf_free(&v);
  return 0;
}

/* After a 402: the miner's book says what it billed and the last sequence it took (a client
 * that crashed mid-request is behind). Taken only within what this client signed. 1 when the
 * client's book moved (worth one retry). */
static int payer_catch_up(payer *p, json_t *err) {
  json_t *price = json_object_get(json_object_get(err, "error"), "price");
  uint64_t billed = ag_json_u64_of(price, "billed"), seq = ag_json_u64_of(price, "seq");
  int moved = 0;
  if (billed > p->cl.billed && billed <= p->cl.signed_max) p->cl.billed = billed, moved = 1;
  if (seq > p->cl.seq) p->cl.seq = seq, moved = 1;
  if (moved) ag_pay_client_save(p->path, &p->cl);
  return moved;
}

/* A paid answer failed the check: its payment receipt, if valid, is billed in our book (the
 * provider will claim it) and becomes evidence, kept in HOME/disputes/<id>.json and, with
 * --dispute, submitted at once. Returns a JSON note for the attempt (new reference). */
static json_t *payer_fault(payer *p, int netuid, const uint8_t pk[32], const char *body, bool chat, json_t *resp,
                           const ag_offer *offer, const ag_inf_verdict *vd, bool dispute, const char *bond_s) {
  json_t *note = json_object();
  uint8_t reqh[32], sig[64];
  ag_pay_receipt pr;
  json_t *ag = json_object_get(resp, "agora"), *payment = json_object_get(ag, "payment");
  ag_inf_request_hash(body, strlen(body), reqh);
  /* the answer's own token counts: its receipt may be what failed to parse */
  json_t *usage = json_object_get(resp, "usage");
  int rc = ag_pay_client_check(&p->cl, offer, pk, reqh, p->seq, p->cumulative,
                               (uint64_t)json_integer_value(json_object_get(usage, "prompt_tokens")),
                               (uint64_t)json_integer_value(json_object_get(usage, "completion_tokens")),
                               ag_json_u64_of(p->offers, "height"), payment, &pr);
  if (!rc) rc = ag_pay_receipt_parse(payment, &pr, sig);
  if (rc) {
    json_object_set_new(note, "evidence", json_null());
    json_object_set_new(note, "why", json_string(ag_errmsg(rc)));
    return note;
  }
  p->cl.billed = pr.billed;
  ag_pay_client_save(p->path, &p->cl);
  ag_evidence e;
  memset(&e, 0, sizeof e);
  memcpy(e.hotkey, pk, 32);
  e.pay = pr;
  memcpy(e.pay_sig, sig, 64);
  json_t *choice = json_array_get(json_object_get(resp, "choices"), 0);
  json_t *tj = chat ? json_object_get(json_object_get(choice, "message"), "content") : json_object_get(choice, "text");
  const char *rb64 = json_string_value(json_object_get(ag, "receipt")),
             *cm = json_string_value(json_object_get(ag, "commitment")),
             *sg = json_string_value(json_object_get(ag, "signature"));
  uint8_t *receipt = NULL;
  size_t rlen = 0;
  if (!json_is_string(tj) || !rb64 || !cm || !sg || strlen(cm) != 64 || strlen(sg) != 128 ||
      ag_hex_decode(cm, 64, e.commitment, 32) || ag_hex_decode(sg, 128, e.answer_sig, 64) ||
      ag_b64_decode_alloc(rb64, strlen(rb64), AG_TX_HARD_MAX, &receipt, &rlen)) {
    json_object_set_new(note, "evidence", json_null());
    json_object_set_new(note, "why", json_string("the answer lacks the parts of its proof a dispute needs"));
    free(receipt);
    return note;
  }
  e.body = (const uint8_t *)body;
  e.body_len = (uint32_t)strlen(body);
  e.text = (const uint8_t *)json_string_value(tj);
  e.text_len = (uint32_t)json_string_length(tj);
  e.receipt = receipt;
  e.receipt_len = (uint32_t)rlen;
  ag_buf ev;
  ag_buf_init(&ev);
  ag_evidence_encode(&ev, &e);
  uint8_t id[32];
  ag_dispute_id(&e, id);
  char idhex[65], file[1200], dir[1100];
  ag_hex_encode(id, 32, idhex);
  snprintf(dir, sizeof dir, "%s/disputes", p->c->home);
  mkdir(dir, 0700);
  snprintf(file, sizeof file, "%s/%s.json", dir, idhex);
  json_t *f = json_object();
  json_object_set_new(f, "id", json_string(idhex));
  json_object_set_new(f, "netuid", json_integer(netuid));
  json_object_set_new(f, "provider", ag_json_addr(pk));
  json_object_set_new(f, "channel", ag_json_hex(pr.channel, 32));
  json_object_set_new(f, "cost", ag_json_u64s(pr.cost));
  json_object_set_new(f, "height", ag_json_u64n(pr.height));
  json_object_set_new(f, "why", json_string(vd->why));
  json_object_set_new(f, "evidence", ag_json_hex(ev.data, ev.len));
  ag_json_write_file(file, f);
  json_object_set_new(note, "dispute", json_string(idhex));
  json_object_set_new(note, "evidence", json_string(file));
  if (dispute) {
    uint64_t bond = 0;
    json_t *eco = NULL;
    if (bond_s) rc = ag_amount_parse(bond_s, &bond);
    else if (!(rc = ag_net_get(p->net, "/v1/economy", &eco))) bond = ag_json_u64_of(eco, "dispute_bond");
    json_decref(eco);
    ag_buf pl;
    ag_buf_init(&pl);
    ag_payload_dispute_open(&pl, (uint16_t)netuid, bond, ev.data, ev.len);
    uint8_t hash[32];
    int code = 0;
    if (!rc) rc = ag_net_submit(p->net, &p->k, AG_TX_DISPUTE_OPEN, pl.data, pl.len, 60000, hash, &code);
    if (!rc) rc = code;
    ag_buf_free(&pl);
    json_object_set_new(note, "disputed", json_boolean(!rc));
    if (rc) json_object_set_new(note, "dispute_error", json_string(ag_errmsg(rc)));
    if (!p->c->json)
      fprintf(stderr, rc ? "could not dispute the answer: %s\n" : "disputed the answer: dispute %.16s…%s\n",
              rc ? ag_errmsg(rc) : idhex, rc ? "" : " ('agora dispute show ID' follows it)");
  } else if (!p->c->json) {
    fprintf(stderr, "the miner billed %s base units for a wrong answer; evidence kept in %s\n"
                    "  (dispute it: agora dispute open %s --from %s)\n",
            json_string_value(json_object_get(f, "cost")), file, file, p->key);
  }
  json_decref(f);
  ag_buf_free(&ev);
  free(receipt);
  return note;
}

int ag_cmd_infer(ag_cli *c, int argc, char **argv) {
  const char *subnet = NULL, *maxt = NULL, *temp = NULL, *topp = NULL, *topk = NULL, *seed = NULL,
             *stop = NULL, *only = NULL, *threads = NULL, *pay_from = NULL, *deposit = NULL,
             *dispute_bond = NULL;
  bool chat = false, no_verify = false, dispute = false;
  ag_opt opts[] = {{"subnet", 0, 1, &subnet, NULL},     {"max-tokens", 'n', 1, &maxt, NULL},
                   {"temperature", 0, 1, &temp, NULL},  {"top-p", 0, 1, &topp, NULL},
                   {"top-k", 0, 1, &topk, NULL},        {"seed", 0, 1, &seed, NULL},
                   {"stop", 0, 1, &stop, NULL},         {"miner", 0, 1, &only, NULL},
                   {"threads", 0, 1, &threads, NULL},   {"chat", 0, 0, NULL, &chat},
                   {"no-verify", 0, 0, NULL, &no_verify}, {"pay-from", 0, 1, &pay_from, NULL},
                   {"deposit", 0, 1, &deposit, NULL},   {"dispute", 0, 0, NULL, &dispute},
                   {"dispute-bond", 0, 1, &dispute_bond, NULL}, {"", 0, 0, NULL, NULL}};
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 1, &npos);
  if (rc) return rc;
  if (c->help) return ag_cli_usage(c, infer_usage);
  if (npos != 1) return ag_cli_fail(c, AG_E_USAGE, "give the prompt as one argument (see --help)");
  int netuid = 1, max_tokens = 64, nthreads = 2, only_uid = -1;
  if ((rc = opt_int(c, subnet, "subnet", 0, 65535, &netuid)) ||
      (rc = opt_int(c, maxt, "max-tokens", 1, 1 << 20, &max_tokens)) ||
      (rc = opt_int(c, threads, "threads", 1, 256, &nthreads)) ||
      (rc = opt_int(c, only, "miner", 0, 65535, &only_uid)))
    return rc;
  /* the request body, exactly as it is sent and hashed */
  json_t *o = json_object();
  char url[256];
  ag_cli_node_url(c, url, sizeof url);
  ag_net net;
  if ((rc = ag_net_open(&net, url))) {
    json_decref(o);
    return ag_cli_fail(c, rc, "%s: %s", url, ag_errmsg(rc));
  }
  char path[80];
  snprintf(path, sizeof path, "/v1/subnets/%d", netuid);
  json_t *sj;
  if ((rc = ag_net_get(&net, path, &sj))) {
    json_decref(o);
    return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  }
  const char *idhex = json_string_value(json_object_get(json_object_get(sj, "model"), "model_id"));
  uint8_t id[32];
  if (!idhex || ag_hex_decode(idhex, strlen(idhex), id, 32)) {
    json_decref(sj);
    json_decref(o);
    return ag_cli_fail(c, AG_E_MODEL_UNAVAILABLE, "subnet %d pins no model", netuid);
  }
  json_decref(sj);
  char name[32];
  ag_inf_model_name(id, name);
  json_object_set_new(o, "model", json_string(name));
  if (chat) {
    json_t *msg = json_object(), *msgs = json_array();
    json_object_set_new(msg, "role", json_string("user"));
    json_object_set_new(msg, "content", json_string(pos[0]));
    json_array_append_new(msgs, msg);
    json_object_set_new(o, "messages", msgs);
  } else {
    json_object_set_new(o, "prompt", json_string(pos[0]));
  }
  if (!json_object_get(o, chat ? "messages" : "prompt") ||
      (!chat && !json_is_string(json_object_get(o, "prompt")))) {
    json_decref(o);
    return ag_cli_fail(c, AG_E_USAGE, "the prompt must be UTF-8 text");
  }
  json_object_set_new(o, "max_tokens", json_integer(max_tokens));
  /* the engine's sampling defaults, sent explicitly (an OpenAI server's would be 1, 1, off) */
  double tv = 0.8, tp = 0.95;
  int kv = 40;
  char *end;
  if (temp && (tv = strtod(temp, &end), *end || !(tv >= 0 && tv <= 2)))
    return json_decref(o), ag_cli_fail(c, AG_E_USAGE, "--temperature must be 0..2");
  if (topp && (tp = strtod(topp, &end), *end || !(tp > 0 && tp <= 1)))
    return json_decref(o), ag_cli_fail(c, AG_E_USAGE, "--top-p must be in (0, 1]");
  if ((rc = opt_int(c, topk, "top-k", 0, 65536, &kv))) return json_decref(o), rc;
  json_object_set_new(o, "temperature", json_real(tv));
  json_object_set_new(o, "top_p", json_real(tp));
  json_object_set_new(o, "top_k", json_integer(kv));
  uint64_t sd;
  if (seed) {
    if (ag_parse_u64(seed, &sd) || sd > INT64_MAX)
      return json_decref(o), ag_cli_fail(c, AG_E_USAGE, "--seed must be 0..2^63-1");
  } else {
    randombytes_buf(&sd, sizeof sd);
    sd &= 0x7fffffffffffffffULL;
  }
  json_object_set_new(o, "seed", json_integer((json_int_t)sd));
  if (stop) json_object_set_new(o, "stop", json_string(stop));
  char *body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  ag_inf_request req;
  const char *param;
  if ((rc = ag_inf_request_parse(chat, (const uint8_t *)body, strlen(body), &req, &param))) {
    free(body);
    return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  }
  /* the model, for the check */
  ag_model *model = NULL;
  ag_infer *state = NULL;
  char mdir[1100];
  snprintf(mdir, sizeof mdir, "%s/models", c->home);
  if (!no_verify) {
    if ((rc = ag_neuron_model(&net, (uint16_t)netuid, mdir, &model)) ||
        (rc = ag_infer_open(model, model->cfg.seq_len, nthreads, &state))) {
      ag_model_close(model);
      ag_inf_request_free(&req);
      free(body);
      return ag_cli_fail(c, rc, "cannot load the subnet's model to verify with (or use --no-verify): %s", ag_errmsg(rc));
    }
  }
  /* who charges, and what (offers on chain); the prompt's size bounds each request's most */
  payer pay;
  memset(&pay, 0, sizeof pay);
  pay.c = c;
  pay.net = &net;
  pay.key = pay_from;
  pay.deposit = deposit;
  memcpy(pay.model, id, 32);
  uint64_t n_prompt_bound = strlen(body) + 64; /* tokens ≤ bytes (byte fallback) + a template */
  if (model) {
    uint32_t *pids;
    size_t np;
    if (ag_inf_prompt_ids(model, &req, &pids, &np) == 0) {
      n_prompt_bound = np; /* exact: the miner counts the same */
      free(pids);
    }
  }
  {
    char op[120], hex[65];
    ag_hex_encode(id, 32, hex);
    snprintf(op, sizeof op, "/v1/offers?model=%s", hex);
    if (ag_net_get(&net, op, &pay.offers)) pay.offers = NULL;
  }
  json_t *payment_out = NULL;
  /* the miners */
  snprintf(path, sizeof path, "/v1/subnets/%d/metagraph", netuid);
  json_t *mg;
  if ((rc = ag_net_get(&net, path, &mg))) goto done_early;
  json_t *rows = json_object_get(mg, "uids");
  candidate *cs = ag_xcalloc(json_array_size(rows) + 1, sizeof *cs);
  int ncs = 0;
  for (size_t i = 0; i < json_array_size(rows); i++) {
    json_t *r = json_array_get(rows, i);
    json_t *ep = json_object_get(r, "endpoint");
    int uid = (int)json_integer_value(json_object_get(r, "uid"));
    char base[200];
    if (ag_net_endpoint_url(ep, base, sizeof base)) continue;
    candidate *k = &cs[ncs++];
    k->uid = uid;
    snprintf(k->hotkey, sizeof k->hotkey, "%s", json_string_value(json_object_get(r, "hotkey")));
    snprintf(k->url, sizeof k->url, "%s%s", base, chat ? "/v1/chat/completions" : "/v1/completions");
    k->incentive = (double)json_integer_value(json_object_get(r, "incentive"));
  }
  json_decref(mg);
  json_t *attempts = json_array();
  int found = -1;
  ag_inf_verdict vd;
  double secs = 0;
  for (int attempt = 0; attempt < 3 && found < 0; attempt++) {
    int i = -1;
    for (int k = 0; attempt == 0 && k < ncs; k++)
      if (cs[k].uid == only_uid) i = k;
    if (i < 0) i = pick(cs, ncs);
    if (i < 0) break;
    candidate *k = &cs[i];
    k->tried = 1;
    json_t *a = json_object();
    json_object_set_new(a, "uid", json_integer(k->uid));
    json_object_set_new(a, "hotkey", json_string(k->hotkey));
    ag_http_result r;
    char why[300] = "";
    ag_offer offer;
    int charges = payer_offer(&pay, k->hotkey, &offer), hrc = 0;
    char vheader[sizeof pay.header + 40];
    const char *headers[2] = {NULL, NULL};
    if (charges && !pay_from) {
      hrc = AG_E_PAY_REQUIRED;
      snprintf(why, sizeof why, "this miner charges for answers; pay it with --pay-from KEY");
    } else if (charges && (hrc = payer_prepare(&pay, &offer, n_prompt_bound, (uint64_t)max_tokens))) {
      snprintf(why, sizeof why, "%s", ag_errmsg(hrc));
      if (hrc == AG_E_CANCELLED) attempt = 3; /* the user said no: ask nobody else */
    }
    if (charges && !hrc) {
      snprintf(vheader, sizeof vheader, "%s: %s", AG_PAY_HEADER, pay.header);
      headers[0] = vheader;
    }
    double t0 = ag_mono_s();
    if (!hrc)
      hrc = ag_http_request_max("POST", k->url, "application/json", body, strlen(body), 120000, 16u << 20, headers, &r);
    if (!hrc && r.status == 402 && charges) {
      /* the miner's book is ahead of ours (we crashed after it billed): catch up within what we
       * signed, and pay again */
      json_t *e = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
      int moved = payer_catch_up(&pay, e);
      json_decref(e);
      if (moved && !(hrc = payer_prepare(&pay, &offer, n_prompt_bound, (uint64_t)max_tokens))) {
        ag_http_result_free(&r);
        snprintf(vheader, sizeof vheader, "%s: %s", AG_PAY_HEADER, pay.header);
        hrc = ag_http_request_max("POST", k->url, "application/json", body, strlen(body), 120000, 16u << 20, headers, &r);
      } else if (hrc) {
        ag_http_result_free(&r);
        snprintf(why, sizeof why, "%s", ag_errmsg(hrc));
      }
    }
    secs = ag_mono_s() - t0;
    int code = hrc, answered = 0; /* answered: HTTP 200, so a failure is the answer's */
    if (!hrc && r.status != 200) {
      code = AG_E_HTTP_STATUS;
      snprintf(why, sizeof why, "HTTP %ld: %.200s", r.status, r.body.data ? (const char *)r.body.data : "");
    } else if (!hrc) {
      answered = 1;
      json_t *resp = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
      uint8_t pk[32];
      ag_addr_decode(k->hotkey, pk);
      if (!resp) {
        code = AG_E_INF_MALFORMED;
        snprintf(why, sizeof why, "the answer is not JSON");
      } else if (no_verify) {
        json_t *choice = json_array_get(json_object_get(resp, "choices"), 0);
        const char *t = chat ? json_string_value(json_object_get(json_object_get(choice, "message"), "content"))
                             : json_string_value(json_object_get(choice, "text"));
        memset(&vd, 0, sizeof vd);
        snprintf(vd.text, sizeof vd.text, "%s", t ? t : "");
        json_t *u = json_object_get(resp, "usage");
        vd.n_out = (int)json_integer_value(json_object_get(u, "completion_tokens"));
        vd.n_prompt = (int)json_integer_value(json_object_get(u, "prompt_tokens"));
        code = t ? 0 : AG_E_INF_MALFORMED;
        if (!t) snprintf(why, sizeof why, "the answer has no text");
      } else {
        code = ag_inf_verify(state, model, (const uint8_t *)body, strlen(body), &req, resp, pk, &vd);
        if (code) snprintf(why, sizeof why, "%s", vd.why);
        if (code && charges && code != AG_E_INF_MALFORMED && code != AG_E_INF_SIGNATURE)
          json_object_set_new(a, "fault", payer_fault(&pay, netuid, pk, body, chat, resp, &offer, &vd, dispute, dispute_bond));
      }
      if (!code && charges) {
        /* what the miner billed: its signed receipt against the offer and our book */
        uint8_t reqh[32];
        ag_pay_receipt pr;
        ag_inf_request_hash(body, strlen(body), reqh);
        code = ag_pay_client_check(&pay.cl, &offer, pk, reqh, pay.seq, pay.cumulative, (uint64_t)vd.n_prompt,
                                   (uint64_t)vd.n_out, ag_json_u64_of(pay.offers, "height"),
                                   json_object_get(json_object_get(resp, "agora"), "payment"), &pr);
        if (code) {
          snprintf(why, sizeof why, "%s", ag_errmsg(code));
        } else {
          pay.cl.billed = pr.billed;
          ag_pay_client_save(pay.path, &pay.cl);
          payment_out = json_object();
          json_object_set_new(payment_out, "channel", ag_json_hex(pr.channel, 32));
          json_object_set_new(payment_out, "cost", ag_json_u64s(pr.cost));
          json_object_set_new(payment_out, "billed", ag_json_u64s(pr.billed));
          json_object_set_new(payment_out, "deposit", ag_json_u64s(pay.cl.deposit));
          json_object_set_new(payment_out, "seq", ag_json_u64s(pr.seq));
        }
      }
      json_decref(resp);
    } else {
      snprintf(why, sizeof why, "%s", ag_errmsg(hrc));
    }
    if (!hrc) ag_http_result_free(&r);
    json_object_set_new(a, "result", json_string(code ? ag_err_name(code) : "ok"));
    if (code) {
      json_object_set_new(a, "why", json_string(why));
      if (!c->json)
        fprintf(stderr, "miner uid %d (%s) failed %s: %s; asking another\n", k->uid, k->hotkey,
                answered ? "verification" : "to answer", why);
    } else {
      found = i;
    }
    json_array_append_new(attempts, a);
  }
  if (found < 0) {
    rc = ncs ? AG_E_NO_MINERS : AG_E_NOTFOUND;
    ag_fail(rc, ncs ? "no miner gave a valid answer (%d tried)" : "subnet %d has no serving miner",
            ncs ? (int)json_array_size(attempts) : netuid);
    if (c->json) {
      json_t *e = json_object();
      json_object_set_new(e, "attempts", attempts);
      json_t *err = json_object();
      json_object_set_new(err, "code", json_string(ag_err_name(rc)));
      json_object_set_new(err, "message", json_string(ag_errmsg(rc)));
      json_object_set_new(e, "error", err);
      ag_cli_print_json(e);
      rc = ag_cli_exit_code(rc);
    } else {
      json_decref(attempts);
      rc = ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    }
    free(cs);
    goto out;
  }
  double tps = secs > 0 ? vd.n_out / secs : 0;
  if (c->json) {
    json_t *res = json_object();
    json_object_set_new(res, "text", json_string(vd.text));
    json_object_set_new(res, "uid", json_integer(cs[found].uid));
    json_object_set_new(res, "hotkey", json_string(cs[found].hotkey));
    json_object_set_new(res, "prompt_tokens", json_integer(vd.n_prompt));
    json_object_set_new(res, "completion_tokens", json_integer(vd.n_out));
    json_object_set_new(res, "seconds", json_real(secs));
    json_object_set_new(res, "tokens_per_s", json_real(tps));
    json_object_set_new(res, "verified", json_boolean(!no_verify));
    json_object_set_new(res, "verify_seconds", json_real(vd.verify_seconds));
    json_object_set_new(res, "seed", json_integer((json_int_t)sd));
    json_object_set_new(res, "attempts", attempts);
    json_object_set_new(res, "payment", payment_out ? payment_out : json_null());
    payment_out = NULL;
    ag_cli_print_json(res);
  } else {
    json_decref(attempts);
    printf("%s%s\n", chat ? "" : pos[0], vd.text);
    fprintf(stderr, "-- uid %d, %d tokens in %.2f s (%.1f tok/s)%s", cs[found].uid, vd.n_out, secs, tps,
            no_verify ? ", not verified\n" : "");
    if (!no_verify) fprintf(stderr, ", verified by re-execution in %.3f s\n", vd.verify_seconds);
    if (payment_out) {
      char cost[32], billed[32], dep[32];
      ag_amount_format(ag_json_u64_of(payment_out, "cost"), cost);
      ag_amount_format(ag_json_u64_of(payment_out, "billed"), billed);
      ag_amount_format(ag_json_u64_of(payment_out, "deposit"), dep);
      fprintf(stderr, "-- paid %s AGR (%s of the channel's %s AGR billed so far)\n", cost, billed, dep);
    }
  }
  free(cs);
  rc = 0;
out:
  json_decref(payment_out);
  json_decref(pay.offers);
  if (pay.have_key) ag_key_wipe(&pay.k);
  ag_infer_close(state);
  ag_model_close(model);
  ag_inf_request_free(&req);
  free(body);
  return rc;
done_early:
  rc = ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  goto out;
}
