/*
 * cmd_subnet.c — `agora subnet`, `agora stake` and `agora weights`: the incentive layer from
 * the command line (docs/cli.md). Reads go to the node's API; writes are transactions signed
 * through cli/txsubmit.
 */
#include "chain/json.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/txsubmit.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/util.h"
#include "incentive/incentive.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail_rc(ag_cli *c, int rc) { return ag_cli_fail(c, rc, "%s", ag_errmsg(rc)); }

static int parse_netuid(ag_cli *c, const char *s, uint16_t *out) {
  uint64_t v;
  if (!s || ag_parse_u64(s, &v) || v > 65535) return ag_fail(AG_E_USAGE, "netuid must be a number");
  *out = (uint16_t)v;
  return 0;
}

static double u16f(json_t *o, const char *k) { return (double)json_integer_value(json_object_get(o, k)) / 65535.0; }

static void fmt_agr(json_t *o, const char *k, char out[32]) { ag_amount_format(ag_cli_json_u64(o, k), out); }

/* ---- reads --------------------------------------------------------------------------------- */

static int subnet_list(ag_cli *c) {
  json_t *j;
  int rc = ag_cli_api(c, "GET", "/v1/subnets", NULL, NULL, 0, &j);
  if (rc) return fail_rc(c, rc);
  if (c->json) {
    ag_cli_print_json(j);
    return 0;
  }
  json_t *a = json_object_get(j, "subnets");
  printf("%-6s %-20s %-8s %-6s %-14s %-14s %s\n", "NETUID", "NAME", "NEURONS", "TEMPO", "REG COST",
         "PENDING", "NEXT EPOCH");
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *s = json_array_get(a, i);
    char cost[32], pend[32], nn[24];
    fmt_agr(s, "registration_cost", cost);
    fmt_agr(s, "pending_emission", pend);
    snprintf(nn, sizeof nn, "%lld/%lld", json_integer_value(json_object_get(s, "neurons")),
             json_integer_value(json_object_get(s, "max_uids")));
    printf("%-6lld %-20s %-8s %-6lld %-14s %-14s %lld\n", json_integer_value(json_object_get(s, "netuid")),
           json_string_value(json_object_get(s, "name")), nn, json_integer_value(json_object_get(s, "tempo")),
           cost, pend, json_integer_value(json_object_get(s, "next_epoch_block")));
  }
  if (!json_array_size(a)) printf("no subnets yet (create one with 'agora subnet create')\n");
  json_decref(j);
  return 0;
}

static int subnet_show(ag_cli *c, uint16_t netuid, int metagraph, bool bonds, bool weights) {
  char path[128];
  snprintf(path, sizeof path, "/v1/subnets/%u%s%s%s", netuid, metagraph ? "/metagraph" : "",
           bonds || weights ? "?" : "", bonds && weights ? "bonds=true&weights=true" : bonds ? "bonds=true" : weights ? "weights=true" : "");
  json_t *j;
  int rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &j);
  if (rc) return fail_rc(c, rc);
  if (c->json) {
    ag_cli_print_json(j);
    return 0;
  }
  char cost[32], pend[32];
  fmt_agr(j, "registration_cost", cost);
  fmt_agr(j, "pending_emission", pend);
  printf("subnet %lld \"%s\"  owner %s\n  neurons %lld/%lld  tempo %lld  epoch %lld (next at block %lld, now %lld)\n"
         "  registration cost %s AGR  pending emission %s AGR\n",
         json_integer_value(json_object_get(j, "netuid")), json_string_value(json_object_get(j, "name")),
         json_string_value(json_object_get(j, "owner")), json_integer_value(json_object_get(j, "neurons")),
         json_integer_value(json_object_get(j, "max_uids")), json_integer_value(json_object_get(j, "tempo")),
         json_integer_value(json_object_get(j, "epoch")), json_integer_value(json_object_get(j, "next_epoch_block")),
         json_integer_value(json_object_get(j, "height")), cost, pend);
  json_t *model = json_object_get(j, "model");
  if (!metagraph && json_is_object(model)) {
    const char *kind = json_string_value(json_object_get(model, "kind"));
    printf("  model %s (%s, %llu bytes, pinned at block %lld)\n", json_string_value(json_object_get(model, "model_id")),
           kind, (unsigned long long)ag_cli_json_u64(model, "size"), json_integer_value(json_object_get(model, "set_block")));
    json_t *t;
    snprintf(path, sizeof path, "/v1/subnets/%u/training?rounds=1", netuid);
    if (kind && !strcmp(kind, "training") && ag_cli_api(c, "GET", path, NULL, NULL, 0, &t) == 0) {
      printf("  training round %lld: submissions until block %lld, ends by %lld; %zu submitted, %zu proposed;"
             " %lld round(s) aggregated (agora model shares MODEL)\n",
             json_integer_value(json_object_get(t, "round")), json_integer_value(json_object_get(t, "submit_until")),
             json_integer_value(json_object_get(t, "round_end")), json_array_size(json_object_get(t, "submissions")),
             json_array_size(json_object_get(t, "proposals")), json_integer_value(json_object_get(t, "finalized")));
      json_decref(t);
    }
  }
  if (!metagraph) {
    json_t *hp = json_object_get(j, "hyperparams");
    const char *k;
    json_t *v;
    printf("  hyperparameters:\n");
    json_object_foreach(hp, k, v) {
      if (json_is_string(v)) printf("    %-26s %s\n", k, json_string_value(v));
      else printf("    %-26s %lld\n", k, json_integer_value(v));
    }
    json_decref(j);
    return 0;
  }
  /* btcli's column names */
  printf("\n%4s %-13s %14s %3s %3s %9s %9s %9s %9s %14s %7s %-21s %s\n", "UID", "HOTKEY", "STAKE",
         "ACT", "VAL", "CONSENSUS", "INCENTIVE", "DIVIDENDS", "VTRUST", "EMISSION", "UPDATED",
         "AXON", "COLDKEY");
  json_t *rows = json_object_get(j, "uids");
  long long height = json_integer_value(json_object_get(j, "height"));
  for (size_t i = 0; i < json_array_size(rows); i++) {
    json_t *r = json_array_get(rows, i);
    char stake[32], em[32], axon[80] = "-";
    fmt_agr(r, "stake", stake);
    fmt_agr(r, "emission", em);
    json_t *ep = json_object_get(r, "endpoint");
    if (json_is_object(ep))
      snprintf(axon, sizeof axon, "%s:%lld", json_string_value(json_object_get(ep, "host")),
               json_integer_value(json_object_get(ep, "port")));
    printf("%4lld %.12s… %14s %3s %3s %9.5f %9.5f %9.5f %9.5f %14s %7lld %-21s %.12s…\n",
           json_integer_value(json_object_get(r, "uid")), json_string_value(json_object_get(r, "hotkey")),
           stake, json_is_true(json_object_get(r, "active")) ? "*" : "",
           json_is_true(json_object_get(r, "validator_permit")) ? "*" : "", u16f(r, "consensus"),
           u16f(r, "incentive"), u16f(r, "dividends"), u16f(r, "validator_trust"), em,
           height - json_integer_value(json_object_get(r, "last_update")), axon,
           json_string_value(json_object_get(r, "coldkey")));
    json_t *brow = json_object_get(r, "bonds");
    if (brow && json_array_size(brow)) {
      printf("       bonds:");
      for (size_t b = 0; b < json_array_size(brow); b++)
        printf(" %lld:%lld", json_integer_value(json_array_get(json_array_get(brow, b), 0)),
               json_integer_value(json_array_get(json_array_get(brow, b), 1)));
      printf("\n");
    }
    json_t *ws = json_object_get(r, "weights");
    if (ws && json_array_size(ws)) {
      printf("       weights:");
      for (size_t b = 0; b < json_array_size(ws); b++)
        printf(" %lld:%lld", json_integer_value(json_array_get(json_array_get(ws, b), 0)),
               json_integer_value(json_array_get(json_array_get(ws, b), 1)));
      printf("\n");
    }
  }
  json_decref(j);
  return 0;
}

/* ---- writes --------------------------------------------------------------------------------- */

typedef struct {
  uint16_t netuid;
  uint8_t hotkey[32];
  uint64_t amount;
  uint64_t max_cost;
  char name[AG_NAME_MAX + 1];
  const char *param;
  const char *host;
  uint16_t port;
  ag_keypair hk; /* register: the hotkey signs the claim; serve and weights: it signs the tx */
  uint16_t *uids, *weights, n;
  uint64_t version_key;
  uint8_t salt[32];
  int commit; /* weights: 0 set, 1 commit, 2 reveal */
  uint8_t model[32], kind; /* pin */
} wctx;

static int build_stake(void *arg, const ag_tx_env *env, ag_buf *p) {
  wctx *w = arg;
  ag_buf_put(p, w->hotkey, 32);
  ag_buf_put_u64le(p, w->amount);
  return 0;
}

static int build_take(void *arg, const ag_tx_env *env, ag_buf *p) {
  wctx *w = arg;
  ag_buf_put(p, w->hotkey, 32);
  ag_buf_put_u16le(p, (uint16_t)w->amount);
  return 0;
}

static int build_create(void *arg, const ag_tx_env *env, ag_buf *p) {
  wctx *w = arg;
  ag_buf_put_u64le(p, w->max_cost);
  ag_buf_put(p, w->hotkey, 32);
  ag_buf_put_u8(p, (uint8_t)strlen(w->name));
  ag_buf_puts(p, w->name);
  return 0;
}

static int build_set(void *arg, const ag_tx_env *env, ag_buf *p) {
  wctx *w = arg;
  ag_buf_put_u16le(p, w->netuid);
  ag_buf_put_u8(p, (uint8_t)strlen(w->param));
  ag_buf_puts(p, w->param);
  ag_buf_put_u64le(p, w->amount);
  return 0;
}

static int build_register(void *arg, const ag_tx_env *env, ag_buf *p) {
  wctx *w = arg;
  ag_payload_register(p, env->chain_id, w->netuid, env->account, &w->hk, w->max_cost);
  return 0;
}

static int build_serve(void *arg, const ag_tx_env *env, ag_buf *p) {
  wctx *w = arg;
  ag_buf_put_u16le(p, w->netuid);
  ag_buf_put_u8(p, 1);
  ag_buf_put_u16le(p, w->port);
  ag_buf_put_u8(p, (uint8_t)strlen(w->host));
  ag_buf_puts(p, w->host);
  return 0;
}

static int build_pin(void *arg, const ag_tx_env *env, ag_buf *p) {
  wctx *w = arg;
  ag_buf_put_u16le(p, w->netuid);
  ag_buf_put_u8(p, w->kind);
  ag_buf_put(p, w->model, 32);
  ag_buf_put_u64le(p, w->amount);
  return 0;
}

static int build_weights(void *arg, const ag_tx_env *env, ag_buf *p) {
  wctx *w = arg;
  if (w->commit == 1) {
    uint8_t h[32];
    ag_weights_commit_hash(env->account, w->netuid, w->version_key, w->uids, w->weights, w->n,
                           w->salt, h);
    ag_buf_put_u16le(p, w->netuid);
    ag_buf_put(p, h, 32);
    return 0;
  }
  ag_payload_weights(p, w->netuid, w->version_key, w->uids, w->weights, w->n,
                     w->commit == 2 ? w->salt : NULL);
  return 0;
}

static int parse_list(const char *s, uint16_t **out, uint16_t *n) {
  size_t cap = 1;
  for (const char *q = s; *q; q++) cap += *q == ',';
  if (cap > AG_MAX_UIDS) return ag_fail(AG_E_USAGE, "at most %d entries", AG_MAX_UIDS);
  uint16_t *v = ag_xmalloc(cap * sizeof *v);
  size_t k = 0;
  char *copy = ag_xstrdup(s), *save = NULL;
  for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    uint64_t x;
    if (ag_parse_u64(t, &x) || x > 65535) {
      free(copy);
      free(v);
      return ag_fail(AG_E_USAGE, "'%s' is not a number 0..65535", t);
    }
    v[k++] = (uint16_t)x;
  }
  free(copy);
  *out = v;
  *n = (uint16_t)k;
  return 0;
}

/* A hotkey that must sign (registration claims): a key in HOME/keys, unlocked for this chain. */
static int load_hotkey(ag_cli *c, const char *name, ag_keypair *k) {
  json_t *st;
  int rc = ag_cli_api(c, "GET", "/v1/status", NULL, NULL, 0, &st);
  if (rc) return rc;
  rc = ag_cli_load_signer(c, name, json_string_value(json_object_get(st, "chain_id")), k);
  json_decref(st);
  return rc;
}

static const char subnet_usage[] =
    "usage: agora subnet list\n"
    "       agora subnet show NETUID\n"
    "       agora subnet metagraph NETUID [--bonds] [--weights]\n"
    "       agora subnet create --from COLDKEY --name NAME [--owner-hotkey HOTKEY] [--max-cost AGR]\n"
    "       agora subnet set NETUID PARAM VALUE --from OWNER_COLDKEY\n"
    "       agora subnet register NETUID --from COLDKEY --hotkey HOTKEY_KEY [--max-cost AGR]\n"
    "       agora subnet serve NETUID --hotkey HOTKEY_KEY --host HOST --port PORT\n"
    "       agora subnet pin NETUID --from OWNER_COLDKEY (--trained-from NETUID | --model ID --size BYTES)\n"
    "                        [--kind inference|training]\n\n"
    "Subnets are markets for one kind of AI work (docs/incentive.md). 'register' burns the\n"
    "current registration cost (shown by 'show'); the transaction carries --max-cost (default:\n"
    "the cost shown now) and fails rather than charge more. 'pin' sets the model a subnet serves;\n"
    "--trained-from pins a training subnet's canonical checkpoint, so that what contributors\n"
    "trained is served (miners and validators move to it by themselves). Hyperparameters and\n"
    "their bounds:\n"
    "'agora subnet show N'. --json everywhere; common tx options: --fee, --no-wait, --yes.\n";

int ag_cmd_subnet(ag_cli *c, int argc, char **argv) {
  const char *from = NULL, *name = NULL, *ohk = NULL, *max_cost = NULL, *hotkey = NULL,
             *host = NULL, *port = NULL, *fee = NULL, *model = NULL, *size = NULL, *trained = NULL,
             *kind = NULL;
  bool bonds = false, weights = false, no_wait = false;
  ag_opt opts[] = {{"from", 'f', 1, &from, NULL},       {"name", 0, 1, &name, NULL},
                   {"owner-hotkey", 0, 1, &ohk, NULL},  {"max-cost", 0, 1, &max_cost, NULL},
                   {"hotkey", 'H', 1, &hotkey, NULL},   {"host", 0, 1, &host, NULL},
                   {"port", 0, 1, &port, NULL},         {"fee", 0, 1, &fee, NULL},
                   {"bonds", 0, 0, NULL, &bonds},       {"weights", 0, 0, NULL, &weights},
                   {"no-wait", 0, 0, NULL, &no_wait},   {"model", 0, 1, &model, NULL},
                   {"size", 0, 1, &size, NULL},         {"trained-from", 0, 1, &trained, NULL},
                   {"kind", 0, 1, &kind, NULL},         {"", 0, 0, NULL, NULL}};
  char *pos[4];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 4, &npos);
  if (rc) return rc;
  if (c->help || npos == 0) return ag_cli_usage(c, subnet_usage);
  const char *sub = pos[0];
  wctx w;
  memset(&w, 0, sizeof w);
  char summary[256];
  ag_txreq req = {from, 0, NULL, &w, summary, fee, NULL, no_wait};
  if (!strcmp(sub, "list")) return subnet_list(c);
  if (!strcmp(sub, "create")) {
    if (!from || !name) return ag_cli_fail(c, AG_E_USAGE, "subnet create needs --from and --name");
    if (strlen(name) > AG_NAME_MAX) return ag_cli_fail(c, AG_E_USAGE, "name is at most %d characters", AG_NAME_MAX);
    snprintf(w.name, sizeof w.name, "%s", name);
    if (ohk && (rc = ag_cli_resolve_addr(c, ohk, w.hotkey))) return fail_rc(c, rc);
    json_t *inc;
    if ((rc = ag_cli_api(c, "GET", "/v1/incentive", NULL, NULL, 0, &inc))) return fail_rc(c, rc);
    w.max_cost = ag_cli_json_u64(inc, "subnet_cost");
    json_decref(inc);
    if (max_cost && (rc = ag_amount_parse(max_cost, &w.max_cost))) return fail_rc(c, rc);
    char cs[32];
    ag_amount_format(w.max_cost, cs);
    snprintf(summary, sizeof summary, "create subnet \"%s\" (burns up to %s AGR)", name, cs);
    req.kind = AG_TX_SUBNET_CREATE;
    req.build = build_create;
    return ag_cli_submit(c, &req);
  }
  if (npos < 2) return ag_cli_fail(c, AG_E_USAGE, "'subnet %s' needs a netuid", sub);
  if ((rc = parse_netuid(c, pos[1], &w.netuid))) return fail_rc(c, rc);
  if (!strcmp(sub, "show") || !strcmp(sub, "hyperparameters")) return subnet_show(c, w.netuid, 0, 0, 0);
  if (!strcmp(sub, "metagraph")) return subnet_show(c, w.netuid, 1, bonds, weights);
  if (!strcmp(sub, "set")) {
    if (!from || npos != 4) return ag_cli_fail(c, AG_E_USAGE, "usage: agora subnet set NETUID PARAM VALUE --from OWNER");
    int64_t sv = atoll(pos[3]);
    if (ag_parse_u64(pos[3], &w.amount) && !(pos[3][0] == '-' && sv < 0))
      return ag_cli_fail(c, AG_E_USAGE, "VALUE must be an integer");
    if (pos[3][0] == '-') w.amount = (uint64_t)sv;
    w.param = pos[2];
    if (strlen(w.param) > 40) return ag_cli_fail(c, AG_E_USAGE, "unknown hyperparameter");
    snprintf(summary, sizeof summary, "set %s = %s on subnet %u", pos[2], pos[3], w.netuid);
    req.kind = AG_TX_SUBNET_SET;
    req.build = build_set;
    return ag_cli_submit(c, &req);
  }
  if (!strcmp(sub, "register")) {
    if (!from || !hotkey) return ag_cli_fail(c, AG_E_USAGE, "subnet register needs --from COLDKEY and --hotkey KEY");
    if ((rc = load_hotkey(c, hotkey, &w.hk))) return fail_rc(c, rc);
    char path[64];
    snprintf(path, sizeof path, "/v1/subnets/%u", w.netuid);
    json_t *sj;
    if ((rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &sj))) {
      ag_key_wipe(&w.hk);
      return fail_rc(c, rc);
    }
    w.max_cost = ag_cli_json_u64(sj, "registration_cost");
    json_decref(sj);
    if (max_cost && (rc = ag_amount_parse(max_cost, &w.max_cost))) {
      ag_key_wipe(&w.hk);
      return fail_rc(c, rc);
    }
    char cs[32], addr[AG_ADDR_MAX];
    ag_amount_format(w.max_cost, cs);
    ag_addr_encode(w.hk.pk, addr);
    snprintf(summary, sizeof summary, "register hotkey %s on subnet %u for at most %s AGR", addr, w.netuid, cs);
    req.kind = AG_TX_REGISTER;
    req.build = build_register;
    rc = ag_cli_submit(c, &req);
    ag_key_wipe(&w.hk);
    return rc;
  }
  if (!strcmp(sub, "serve")) {
    uint64_t pv;
    if (!hotkey || !host || !port || ag_parse_u64(port, &pv) || pv < 1 || pv > 65535 ||
        strlen(host) > AG_HOST_MAX)
      return ag_cli_fail(c, AG_E_USAGE, "subnet serve needs --hotkey KEY --host HOST --port 1..65535");
    w.host = host;
    w.port = (uint16_t)pv;
    req.key = hotkey; /* the hotkey signs its own announcement */
    snprintf(summary, sizeof summary, "announce http://%s:%u for subnet %u", host, w.port, w.netuid);
    req.kind = AG_TX_SERVE;
    req.build = build_serve;
    return ag_cli_submit(c, &req);
  }
  if (!strcmp(sub, "pin")) {
    if (!from || (!trained && (!model || !size)))
      return ag_cli_fail(c, AG_E_USAGE, "subnet pin needs --from and --trained-from NETUID or --model ID --size BYTES");
    w.kind = AG_SUBNET_INFERENCE;
    if (kind && !strcmp(kind, "training")) w.kind = AG_SUBNET_TRAINING;
    else if (kind && strcmp(kind, "inference")) return ag_cli_fail(c, AG_E_USAGE, "--kind is inference or training");
    if (trained) {
      uint16_t from_net;
      if ((rc = parse_netuid(c, trained, &from_net))) return fail_rc(c, rc);
      char path[64];
      snprintf(path, sizeof path, "/v1/subnets/%u", from_net);
      json_t *sj;
      if ((rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &sj))) return fail_rc(c, rc);
      json_t *mj = json_object_get(sj, "model");
      const char *k = json_string_value(json_object_get(mj, "kind")), *id = json_string_value(json_object_get(mj, "model_id"));
      if (!k || strcmp(k, "training") || !id || strlen(id) != 64 || ag_hex_decode(id, 64, w.model, 32)) {
        json_decref(sj);
        return ag_cli_fail(c, AG_E_USAGE, "subnet %u is not a training subnet with a checkpoint", from_net);
      }
      w.amount = ag_cli_json_u64(mj, "size");
      json_decref(sj);
    } else if (strlen(model) != 64 || ag_hex_decode(model, 64, w.model, 32) || ag_parse_u64(size, &w.amount)) {
      return ag_cli_fail(c, AG_E_USAGE, "--model is a model id (64 hex digits) and --size its bytes");
    }
    char hex[65];
    ag_hex_encode(w.model, 32, hex);
    snprintf(summary, sizeof summary, "pin model %.16s… (%llu bytes) as subnet %u's %s model", hex,
             (unsigned long long)w.amount, w.netuid, ag_subnet_kind_name(w.kind));
    req.kind = AG_TX_SUBNET_SET_MODEL;
    req.build = build_pin;
    return ag_cli_submit(c, &req);
  }
  return ag_cli_fail(c, AG_E_USAGE, "unknown subnet command '%s'", sub);
}

/* ---- agora stake ------------------------------------------------------------------------------ */

static const char stake_usage[] =
    "usage: agora stake add --from COLDKEY --hotkey HOTKEY AMOUNT\n"
    "       agora stake remove --from COLDKEY --hotkey HOTKEY AMOUNT\n"
    "       agora stake list [COLDKEY]\n"
    "       agora stake show HOTKEY\n"
    "       agora stake take --from COLDKEY --hotkey HOTKEY PERCENT\n\n"
    "Stake AGR from a coldkey on any hotkey (your own or a validator's: delegation). A hotkey's\n"
    "total stake is its weight in Yuma consensus; its validator keeps its take (default 18%)\n"
    "of the dividends and the rest is added to its stakers' stake.\n";

int ag_cmd_stake(ag_cli *c, int argc, char **argv) {
  const char *from = NULL, *hotkey = NULL, *fee = NULL;
  bool no_wait = false;
  ag_opt opts[] = {{"from", 'f', 1, &from, NULL}, {"hotkey", 'H', 1, &hotkey, NULL},
                   {"fee", 0, 1, &fee, NULL},     {"no-wait", 0, 0, NULL, &no_wait},
                   {"", 0, 0, NULL, NULL}};
  char *pos[3];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 3, &npos);
  if (rc) return rc;
  if (c->help || npos == 0) return ag_cli_usage(c, stake_usage);
  const char *sub = pos[0];
  wctx w;
  memset(&w, 0, sizeof w);
  char summary[256], addr[AG_ADDR_MAX];
  if (!strcmp(sub, "list") || !strcmp(sub, "show")) {
    if (!strcmp(sub, "show") && npos < 2) return ag_cli_fail(c, AG_E_USAGE, "stake show needs a hotkey");
    uint8_t pk[32];
    if (npos >= 2) rc = ag_cli_resolve_addr(c, pos[1], pk);
    else if (!from) return ag_cli_fail(c, AG_E_USAGE, "stake list needs a coldkey (argument or --from)");
    else rc = ag_cli_resolve_addr(c, from, pk);
    if (rc) return fail_rc(c, rc);
    ag_addr_encode(pk, addr);
    char path[128];
    snprintf(path, sizeof path, "/v1/%s/%s", !strcmp(sub, "list") ? "stake" : "hotkeys", addr);
    json_t *j;
    if ((rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &j))) return fail_rc(c, rc);
    if (c->json) {
      ag_cli_print_json(j);
      return 0;
    }
    char t[32];
    if (!strcmp(sub, "list")) {
      fmt_agr(j, "total", t);
      printf("coldkey %s: %s AGR staked\n", addr, t);
      json_t *a = json_object_get(j, "stakes");
      for (size_t i = 0; i < json_array_size(a); i++) {
        fmt_agr(json_array_get(a, i), "amount", t);
        printf("  %s  %s AGR\n", json_string_value(json_object_get(json_array_get(a, i), "hotkey")), t);
      }
    } else {
      fmt_agr(j, "total_stake", t);
      printf("hotkey %s\n  owner  %s\n  take   %.2f%%\n  stake  %s AGR\n", addr,
             json_string_value(json_object_get(j, "owner")), 100.0 * u16f(j, "take"), t);
      json_t *a = json_object_get(j, "stakers");
      for (size_t i = 0; i < json_array_size(a); i++) {
        fmt_agr(json_array_get(a, i), "amount", t);
        printf("    %s  %s AGR\n", json_string_value(json_object_get(json_array_get(a, i), "coldkey")), t);
      }
      json_t *r = json_object_get(j, "registrations");
      for (size_t i = 0; i < json_array_size(r); i++)
        printf("  subnet %lld uid %lld\n", json_integer_value(json_object_get(json_array_get(r, i), "netuid")),
               json_integer_value(json_object_get(json_array_get(r, i), "uid")));
    }
    json_decref(j);
    return 0;
  }
  if (!from || !hotkey || npos != 2)
    return ag_cli_fail(c, AG_E_USAGE, "usage: agora stake %s --from COLDKEY --hotkey HOTKEY %s", sub,
                       !strcmp(sub, "take") ? "PERCENT" : "AMOUNT");
  if ((rc = ag_cli_resolve_addr(c, hotkey, w.hotkey))) return fail_rc(c, rc);
  ag_addr_encode(w.hotkey, addr);
  ag_txreq req = {from, 0, build_stake, &w, summary, fee, NULL, no_wait};
  if (!strcmp(sub, "take")) {
    double pct = atof(pos[1]);
    if (pct < 0 || pct > 100) return ag_cli_fail(c, AG_E_USAGE, "PERCENT must be 0..100");
    w.amount = (uint64_t)(pct / 100.0 * 65535.0 + 0.5);
    snprintf(summary, sizeof summary, "set the take of %s to %s%%", addr, pos[1]);
    req.kind = AG_TX_SET_TAKE;
    req.build = build_take;
    return ag_cli_submit(c, &req);
  }
  if ((rc = ag_amount_parse(pos[1], &w.amount))) return fail_rc(c, rc);
  if (!strcmp(sub, "add")) req.kind = AG_TX_STAKE_ADD;
  else if (!strcmp(sub, "remove")) req.kind = AG_TX_STAKE_REMOVE;
  else return ag_cli_fail(c, AG_E_USAGE, "unknown stake command '%s' (add, remove, list, show, take)", sub);
  snprintf(summary, sizeof summary, "%s %s AGR %s %s", sub, pos[1], req.kind == AG_TX_STAKE_ADD ? "on" : "from", addr);
  return ag_cli_submit(c, &req);
}

/* ---- agora weights --------------------------------------------------------------------------- */

static const char weights_usage[] =
    "usage: agora weights set NETUID --hotkey KEY --uids 0,1,2 --weights 10,20,70 [--version-key K]\n"
    "       agora weights commit NETUID --hotkey KEY --uids ... --weights ... [--salt HEX]\n"
    "       agora weights reveal NETUID --hotkey KEY --uids ... --weights ... --salt HEX\n\n"
    "A validator's weights over the subnet's miners (u16 each; the chain scales each row so its\n"
    "maximum is 65535). On subnets with commit-reveal (the default) commit a hash first and\n"
    "reveal the same weights and salt one epoch later; 'commit' prints the salt to reveal with.\n";

int ag_cmd_weights(ag_cli *c, int argc, char **argv) {
  const char *hotkey = NULL, *uids = NULL, *ws = NULL, *vk = NULL, *salt = NULL, *fee = NULL;
  bool no_wait = false;
  ag_opt opts[] = {{"hotkey", 'H', 1, &hotkey, NULL},   {"uids", 0, 1, &uids, NULL},
                   {"weights", 'w', 1, &ws, NULL},      {"version-key", 0, 1, &vk, NULL},
                   {"salt", 0, 1, &salt, NULL},         {"fee", 0, 1, &fee, NULL},
                   {"no-wait", 0, 0, NULL, &no_wait},   {"", 0, 0, NULL, NULL}};
  char *pos[2];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 2, &npos);
  if (rc) return rc;
  if (c->help || npos != 2) return ag_cli_usage(c, weights_usage);
  wctx w;
  memset(&w, 0, sizeof w);
  if ((rc = parse_netuid(c, pos[1], &w.netuid))) return fail_rc(c, rc);
  if (!hotkey || !uids || !ws) return ag_cli_fail(c, AG_E_USAGE, "weights need --hotkey, --uids and --weights");
  uint16_t n2;
  if ((rc = parse_list(uids, &w.uids, &w.n)) || (rc = parse_list(ws, &w.weights, &n2))) return fail_rc(c, rc);
  if (n2 != w.n) {
    free(w.uids);
    free(w.weights);
    return ag_cli_fail(c, AG_E_WEIGHTS_LEN, "%u uids but %u weights", w.n, n2);
  }
  if (vk && ag_parse_u64(vk, &w.version_key)) return ag_cli_fail(c, AG_E_USAGE, "--version-key must be a number");
  const char *sub = pos[0];
  w.commit = !strcmp(sub, "commit") ? 1 : !strcmp(sub, "reveal") ? 2 : 0;
  if (!w.commit && strcmp(sub, "set")) return ag_cli_fail(c, AG_E_USAGE, "unknown weights command '%s'", sub);
  if (salt) {
    if (ag_hex_decode(salt, strlen(salt), w.salt, 32)) return ag_cli_fail(c, AG_E_USAGE, "--salt is 64 hex characters");
  } else if (w.commit == 2) {
    return ag_cli_fail(c, AG_E_USAGE, "reveal needs the --salt printed by commit");
  } else {
    randombytes_buf(w.salt, 32);
  }
  char summary[256], saltx[65];
  ag_hex_encode(w.salt, 32, saltx);
  snprintf(summary, sizeof summary, "%s %u weights on subnet %u%s%s", sub, w.n, w.netuid,
           w.commit == 1 ? "; reveal later with --salt " : "", w.commit == 1 ? saltx : "");
  ag_txreq req = {hotkey, w.commit == 1 ? AG_TX_COMMIT_WEIGHTS : w.commit == 2 ? AG_TX_REVEAL_WEIGHTS : AG_TX_SET_WEIGHTS,
                  build_weights, &w, summary, fee, NULL, no_wait};
  rc = ag_cli_submit(c, &req);
  free(w.uids);
  free(w.weights);
  return rc;
}
