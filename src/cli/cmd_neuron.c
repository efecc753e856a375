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
#include "subnets/buyer.h"
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

volatile int ag_cli_stop;

static void *signal_thread(void *arg) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig;
  sigwait(&set, &sig);
  ag_cli_stop = 1;
  return NULL;
}

pthread_t ag_cli_block_signals(void) {
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

void ag_cli_end_signals(pthread_t t) {
  pthread_kill(t, SIGTERM);
  pthread_join(t, NULL);
}

/* ---- agora miner ---------------------------------------------------------------------------- */

static const char miner_usage[] =
    "usage: agora miner --subnet N --hotkey NAME [--coldkey NAME] [--listen HOST:PORT]\n"
    "                   [--announce-host HOST] [--workers N] [--threads N] [--queue N]\n"
    "                   [--api-key KEY] [--models DIR] [--claim-every SECONDS]\n"
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
    "  --models DIR        model cache (default HOME/models)\n"
    "  --claim-every S     seconds between rounds that redeem what paying clients were billed\n"
    "                      (a base fee per channel with news) and drop closed\n"
    "                      channels from the payment book (default 10; 1..86400)\n";

int ag_cmd_miner(ag_cli *c, int argc, char **argv) {
  const char *subnet = NULL, *hotkey = NULL, *coldkey = NULL, *listen = NULL, *host = NULL,
             *workers = NULL, *threads = NULL, *queue = NULL, *key = NULL, *models = NULL,
             *slow = NULL, *role = NULL, *status = NULL, *claim_every = NULL;
  bool cheat = false, free_rider = false, front_runner = false, blender = false, relay = false;
  ag_opt opts[] = {{"subnet", 0, 1, &subnet, NULL},   {"hotkey", 0, 1, &hotkey, NULL},
                   {"coldkey", 0, 1, &coldkey, NULL}, {"listen", 0, 1, &listen, NULL},
                   {"announce-host", 0, 1, &host, NULL}, {"workers", 0, 1, &workers, NULL},
                   {"threads", 0, 1, &threads, NULL}, {"queue", 0, 1, &queue, NULL},
                   {"api-key", 0, 1, &key, NULL},     {"models", 0, 1, &models, NULL},
                   {"claim-every", 0, 1, &claim_every, NULL},
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
    pthread_t st = ag_cli_block_signals();
    rc = ag_tminer_run(&tc, &ag_cli_stop);
    ag_cli_end_signals(st);
    return neuron_done(rc);
  }
  ag_miner_config cfg;
  ag_miner_config_default(&cfg);
  int netuid = cfg.netuid;
  if ((rc = opt_int(c, subnet, "subnet", 0, 65535, &netuid)) ||
      (rc = opt_int(c, workers, "workers", 1, 256, &cfg.workers)) ||
      (rc = opt_int(c, threads, "threads", 1, 256, &cfg.threads)) ||
      (rc = opt_int(c, queue, "queue", 1, 100000, &cfg.queue_max)) ||
      (rc = opt_int(c, claim_every, "claim-every", 1, 86400, &cfg.claim_s)) ||
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
  pthread_t st = ag_cli_block_signals();
  while ((rc = ag_miner_run(&cfg, &ag_cli_stop)) == AG_E_MODEL_CHANGED && !ag_cli_stop) {
    /* the subnet pinned another model (a trained checkpoint): serve that one */
  }
  ag_cli_end_signals(st);
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
  pthread_t st = ag_cli_block_signals();
  if (training) rc = ag_tvalidator_run(&cfg, &ag_cli_stop);
  else /* a new pin: validate the new model */
    while ((rc = ag_validator_run(&cfg, &ag_cli_stop)) == AG_E_MODEL_CHANGED && !ag_cli_stop) {
    }
  ag_cli_end_signals(st);
  return neuron_done(rc);
}

/* ---- agora infer ------------------------------------------------------------------------------ */

static const char infer_usage[] =
    "usage: agora infer [--subnet N] [--chat] [-n MAX_TOKENS] [--temperature T] [--top-p P]\n"
    "                   [--top-k K] [--frequency-penalty F] [--presence-penalty P] [--seed S]\n"
    "                   [--stop TEXT] [--miner UID] [--no-verify] [--threads N] PROMPT\n\n"
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
    "  --frequency-penalty F, --presence-penalty P\n"
    "                    -2..2 (default 0): OpenAI's, against repeating output tokens\n"
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

/* Asks on the terminal before a channel is opened or topped up. */
static int confirm_cb(void *ctx, const char *question) { return ag_cli_confirm((ag_cli *)ctx, question); }

int ag_cmd_infer(ag_cli *c, int argc, char **argv) {
  const char *subnet = NULL, *maxt = NULL, *temp = NULL, *topp = NULL, *topk = NULL, *seed = NULL,
             *stop = NULL, *only = NULL, *threads = NULL, *pay_from = NULL, *deposit = NULL,
             *dispute_bond = NULL, *freq = NULL, *pres = NULL;
  bool chat = false, no_verify = false, dispute = false;
  ag_opt opts[] = {{"subnet", 0, 1, &subnet, NULL},     {"max-tokens", 'n', 1, &maxt, NULL},
                   {"temperature", 0, 1, &temp, NULL},  {"top-p", 0, 1, &topp, NULL},
                   {"top-k", 0, 1, &topk, NULL},        {"seed", 0, 1, &seed, NULL},
                   {"stop", 0, 1, &stop, NULL},         {"miner", 0, 1, &only, NULL},
                   {"threads", 0, 1, &threads, NULL},   {"chat", 0, 0, NULL, &chat},
                   {"no-verify", 0, 0, NULL, &no_verify}, {"pay-from", 0, 1, &pay_from, NULL},
                   {"deposit", 0, 1, &deposit, NULL},   {"dispute", 0, 0, NULL, &dispute},
                   {"dispute-bond", 0, 1, &dispute_bond, NULL}, {"frequency-penalty", 0, 1, &freq, NULL},
                   {"presence-penalty", 0, 1, &pres, NULL}, {"", 0, 0, NULL, NULL}};
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
  const char *pen[2] = {freq, pres}, *penkey[2] = {"frequency_penalty", "presence_penalty"};
  for (int i = 0; i < 2; i++) {
    double v;
    if (!pen[i]) continue;
    if ((v = strtod(pen[i], &end), *end || !*pen[i] || !(v >= -2 && v <= 2)))
      return json_decref(o), ag_cli_fail(c, AG_E_USAGE, "--%s-penalty must be -2..2", i ? "presence" : "frequency");
    if (v != 0) json_object_set_new(o, penkey[i], json_real(v));
  }
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
  ag_keypair payer;
  int have_payer = 0;
  uint64_t deposit_amount = 0, bond_amount = 0;
  if ((deposit && ag_amount_parse(deposit, &deposit_amount)) || (dispute_bond && ag_amount_parse(dispute_bond, &bond_amount))) {
    ag_inf_request_free(&req);
    free(body);
    return ag_cli_fail(c, AG_E_USAGE, "--deposit and --dispute-bond are amounts of AGR");
  }
  if (pay_from && (rc = ag_cli_load_signer(c, pay_from, net.chain_id, &payer))) {
    ag_inf_request_free(&req);
    free(body);
    return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  }
  have_payer = pay_from != NULL;
  ag_buyer_cfg bc = {.home = c->home, .netuid = (uint16_t)netuid, .payer = have_payer ? &payer : NULL,
                     .payer_name = pay_from, .deposit = deposit_amount, .confirm = confirm_cb, .confirm_ctx = c,
                     .dispute = dispute, .dispute_bond = bond_amount, .policy = AG_BUY_BY_INCENTIVE,
                     .verify = !no_verify, .verify_sample = 1, .threads = nthreads, .attempts = 3, .log = !c->json};
  ag_buyer *buyer = NULL;
  ag_buy_result res;
  memset(&res, 0, sizeof res);
  if ((rc = ag_buyer_open(&net, &bc, &buyer))) {
    rc = ag_cli_fail(c, rc, "%s%s", ag_errmsg(rc), no_verify ? "" : " (or use --no-verify)");
    goto out;
  }
  rc = ag_buy(buyer, chat, body, &req, only_uid, UINT64_MAX, &res);
  if (rc) {
    if (c->json) {
      json_t *e = json_object();
      json_object_set_new(e, "attempts", json_incref(res.attempts));
      json_t *err = json_object();
      json_object_set_new(err, "code", json_string(ag_err_name(rc)));
      json_object_set_new(err, "message", ag_json_text(ag_errmsg(rc)));
      json_object_set_new(e, "error", err);
      ag_cli_print_json(e);
      rc = ag_cli_exit_code(rc);
    } else {
      rc = ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    }
    goto out;
  }
  ag_inf_verdict vd = res.vd;
  double secs = res.seconds;
  double tps = secs > 0 ? vd.n_out / secs : 0;
  if (c->json) {
    json_t *o2 = json_object();
    json_object_set_new(o2, "text", json_string(vd.text));
    json_object_set_new(o2, "uid", json_integer(res.uid));
    json_object_set_new(o2, "hotkey", json_string(res.hotkey));
    json_object_set_new(o2, "prompt_tokens", json_integer(vd.n_prompt));
    json_object_set_new(o2, "completion_tokens", json_integer(vd.n_out));
    json_object_set_new(o2, "seconds", json_real(secs));
    json_object_set_new(o2, "tokens_per_s", json_real(tps));
    json_object_set_new(o2, "verified", json_boolean(res.verified));
    json_object_set_new(o2, "verify_seconds", json_real(vd.verify_seconds));
    json_object_set_new(o2, "seed", json_integer((json_int_t)sd));
    json_object_set_new(o2, "attempts", json_incref(res.attempts));
    json_object_set_new(o2, "payment", res.payment ? json_incref(res.payment) : json_null());
    ag_cli_print_json(o2);
  } else {
    printf("%s%s\n", chat ? "" : pos[0], vd.text);
    fprintf(stderr, "-- uid %d, %d tokens in %.2f s (%.1f tok/s)%s", res.uid, vd.n_out, secs, tps,
            no_verify ? ", not verified\n" : "");
    if (!no_verify) fprintf(stderr, ", verified by re-execution in %.3f s\n", vd.verify_seconds);
    if (res.payment) {
      char cost[32], billed[32], dep[32];
      ag_amount_format(ag_json_u64_of(res.payment, "cost"), cost);
      ag_amount_format(ag_json_u64_of(res.payment, "billed"), billed);
      ag_amount_format(ag_json_u64_of(res.payment, "deposit"), dep);
      fprintf(stderr, "-- paid %s AGR (%s of the channel's %s AGR billed so far)\n", cost, billed, dep);
    }
  }
  rc = 0;
out:
  ag_buy_result_free(&res);
  ag_buyer_close(buyer);
  if (have_payer) ag_key_wipe(&payer);
  ag_inf_request_free(&req);
  free(body);
  return rc;
}
