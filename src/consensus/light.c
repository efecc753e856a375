/* light.c — trust anchors from genesis files and the check of a signed header against one
 * (see light.h). Everything read from a node is untrusted and bounded. */
#include "consensus/light.h"

#include "chain/block.h"
#include "chain/genesis.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/util.h"
#include "crypto/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_HEX_MAX 1024 /* a version-1 header is at most 214 bytes */

int ag_light_trust_parse(const char *text, size_t len, ag_light_trust *t) {
  memset(t, 0, sizeof *t);
  json_error_t jerr;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!json_is_object(root)) {
    json_decref(root);
    return ag_fail(AG_E_BAD_JSON, "genesis is not a JSON object (line %d: %s)", jerr.line, jerr.text);
  }
  int rc;
  if (json_is_array(json_object_get(root, "validators")) && json_object_get(root, "app_state")) {
    rc = ag_cmt_valset_from_genesis(root, &t->vals);
    if (!rc) {
      t->mode = AG_LIGHT_COMETBFT;
      snprintf(t->chain_id, sizeof t->chain_id, "%s", t->vals.chain_id);
    }
  } else {
    ag_genesis g;
    rc = ag_genesis_parse(text, len, &g);
    if (!rc) {
      if (!g.has_proposer)
        rc = ag_fail(AG_E_NO_TRUST_ANCHOR,
                     "the genesis names no block producer (\"proposer\"), so no header can be "
                     "checked: it predates light-client proofs ('agora init' now names the node "
                     "key), or the chain runs on CometBFT (give its genesis with --genesis)");
      t->mode = AG_LIGHT_SOLO;
      snprintf(t->chain_id, sizeof t->chain_id, "%s", g.chain_id);
      memcpy(t->proposer, g.proposer, 32);
      ag_genesis_free(&g);
    }
  }
  json_decref(root);
  if (rc) ag_light_trust_free(t);
  return rc;
}

int ag_light_trust_load(const char *home, const char *path, ag_light_trust *t) {
  memset(t, 0, sizeof *t);
  char p[1100];
  if (path) {
    snprintf(p, sizeof p, "%s", path);
  } else {
    snprintf(p, sizeof p, "%s/cometbft/config/genesis.json", home);
    if (!ag_file_exists(p)) snprintf(p, sizeof p, "%s/genesis.json", home);
  }
  uint8_t *data;
  size_t len;
  int rc = ag_read_file(p, 256u << 20, &data, &len);
  if (rc == AG_E_NOTFOUND)
    return ag_fail(AG_E_NO_TRUST_ANCHOR,
                   "%s not found: a proof is checked against the chain's genesis, which the "
                   "client must hold (copy the chain's genesis.json there, or give --genesis)",
                   p);
  if (rc) return rc;
  rc = ag_light_trust_parse((const char *)data, len, t);
  free(data);
  if (rc) return ag_fail(rc, "%s: %s", p, ag_errmsg(rc));
  snprintf(t->source, sizeof t->source, "%s", p);
  return 0;
}

void ag_light_trust_free(ag_light_trust *t) {
  if (!t) return;
  ag_cmt_valset_free(&t->vals);
}

uint64_t ag_light_header_height(const ag_light_trust *t, uint64_t state_height) {
  return t->mode == AG_LIGHT_COMETBFT ? state_height + 1 : state_height;
}

static int want_consensus(json_t *hdr, const char *want) {
  const char *got = json_string_value(json_object_get(hdr, "consensus"));
  if (!got || strcmp(got, want) != 0)
    return ag_fail(AG_E_BAD_HEADER, "the node serves %.16s headers, but the genesis is a %s chain's",
                   got ? got : "no", want);
  return 0;
}

static int verify_solo(const ag_light_trust *t, json_t *hdr, uint64_t height, const uint8_t root[32],
                       ag_light_verified *out) {
  int rc = want_consensus(hdr, "solo");
  if (rc) return rc;
  const char *hx = json_string_value(json_object_get(hdr, "header"));
  const char *sx = json_string_value(json_object_get(hdr, "signature"));
  uint8_t raw[HEADER_HEX_MAX / 2], sig[64];
  size_t n = hx ? strlen(hx) : 0;
  if (!hx || n % 2 || n > HEADER_HEX_MAX || ag_hex_decode(hx, n, raw, n / 2))
    return ag_fail(AG_E_BAD_HEADER, "the header is not hex of at most %d bytes", HEADER_HEX_MAX / 2);
  if (!sx || ag_hex_decode(sx, strlen(sx), sig, 64))
    return ag_fail(AG_E_BAD_HEADER, "the header's signature is not 64 bytes of hex");
  ag_block_header h;
  if ((rc = ag_block_header_decode(raw, n / 2, &h, out->block_hash)))
    return ag_fail(AG_E_BAD_HEADER, "the header does not decode: %s", ag_errmsg(rc));
  if (h.version != AG_BLOCK_VERSION || strcmp(h.chain_id, t->chain_id) != 0 || h.height != height)
    return ag_fail(AG_E_BAD_HEADER,
                   "the header is version %u of chain '%s' at height %llu; wanted a solo block "
                   "of '%s' at %llu",
                   h.version, h.chain_id, (unsigned long long)h.height, t->chain_id,
                   (unsigned long long)height);
  char want[AG_ADDR_MAX], got[AG_ADDR_MAX];
  ag_addr_encode(t->proposer, want);
  ag_addr_encode(h.proposer, got);
  if (memcmp(h.proposer, t->proposer, 32) != 0)
    return ag_fail(AG_E_HEADER_SIGNATURE, "block %llu names %s as its producer, not the genesis block producer %s",
                   (unsigned long long)height, got, want);
  if (ag_verify(t->proposer, out->block_hash, 32, sig) != 0) {
    ag_err_clear();
    return ag_fail(AG_E_HEADER_SIGNATURE, "block %llu's header is not signed by the genesis block producer %s",
                   (unsigned long long)height, want);
  }
  out->header_height = height;
  out->time_ms = h.time_ms > INT64_MAX ? INT64_MAX : (int64_t)h.time_ms;
  out->signed_power = out->total_power = 1;
  out->signers = out->validators = 1;
  if (memcmp(h.state_root, root, 32) != 0)
    return ag_fail(AG_E_UNTRUSTED_ROOT,
                   "the proof's state root is not the one block %llu's signed header commits to",
                   (unsigned long long)height);
  return 0;
}

static int verify_cometbft(const ag_light_trust *t, json_t *hdr, uint64_t height, const uint8_t root[32],
                           ag_light_verified *out) {
  int rc = want_consensus(hdr, "cometbft");
  if (rc) return rc;
  if (height >= (uint64_t)INT64_MAX) return ag_fail(AG_E_BAD_HEADER, "height out of range");
  ag_cmt_header h;
  ag_cmt_commit c;
  if ((rc = ag_cmt_signed_header_parse(json_object_get(hdr, "signed_header"), &h, &c))) return rc;
  if (h.height != (int64_t)height + 1) {
    rc = ag_fail(AG_E_BAD_HEADER, "the header is at height %lld; the state after block %llu is in header %llu",
                 (long long)h.height, (unsigned long long)height, (unsigned long long)height + 1);
    goto done;
  }
  ag_cmt_verified v;
  ag_cmt_valset now = {0};
  const ag_cmt_valset *by = &t->vals;
  rc = ag_cmt_verify_commit(&t->vals, &h, &c, &v);
  if (rc == AG_E_VALSET_CHANGED && !json_array_size(json_object_get(hdr, "validators")))
    rc = ag_fail(AG_E_VALSET_CHANGED, "header %lld is signed by another validator set than the genesis one, and the "
                 "answer does not give that set", (long long)h.height);
  else if (rc == AG_E_VALSET_CHANGED) {
    /* the set changed since genesis (sudo, or validators by bond): the node gives the set of
     * this height; it must be the one the header names, more than 2/3 of it must have signed,
     * and so must genesis keys holding more than a third of the genesis power (CometBFT's
     * skipping verification with its default trust level) */
    if (!(rc = ag_cmt_valset_from_rpc(json_object_get(hdr, "validators"), t->chain_id, &now)) &&
        !(rc = ag_cmt_verify_commit(&now, &h, &c, &v))) {
      by = &now;
      out->trusted_power = ag_cmt_trusted_signed_power(&t->vals, &now, &c);
      if (out->trusted_power <= t->vals.total_power / 3)
        rc = ag_fail(AG_E_VALSET_CHANGED,
                     "header %lld is signed by a changed validator set, and the genesis validators among its signers "
                     "hold %lld of the %lld genesis power: more than %lld is needed to trust the new set",
                     (long long)h.height, (long long)out->trusted_power, (long long)t->vals.total_power,
                     (long long)(t->vals.total_power / 3));
    }
  }
  if (rc) {
    ag_cmt_valset_free(&now);
    goto done;
  }
  memcpy(out->block_hash, v.block_hash, 32);
  out->header_height = (uint64_t)h.height;
  out->time_ms = h.time.seconds * 1000 + h.time.nanos / 1000000;
  out->signed_power = v.signed_power;
  out->total_power = by->total_power;
  out->signers = v.signers;
  out->validators = by->n;
  out->set_changed = by != &t->vals;
  ag_cmt_valset_free(&now);
  if (h.app_hash.len != 32 || memcmp(h.app_hash.b, root, 32) != 0)
    rc = ag_fail(AG_E_UNTRUSTED_ROOT,
                 "the proof's state root is not the app hash CometBFT header %lld commits to",
                 (long long)h.height);
done:
  ag_cmt_commit_free(&c);
  return rc;
}

int ag_light_verify(const ag_light_trust *t, json_t *hdr, uint64_t state_height,
                    const uint8_t root[32], ag_light_verified *out) {
  memset(out, 0, sizeof *out);
  if (!json_is_object(hdr)) return ag_fail(AG_E_BAD_HEADER, "the header answer is not a JSON object");
  if (t->mode == AG_LIGHT_SOLO) return verify_solo(t, hdr, state_height, root, out);
  if (t->mode == AG_LIGHT_COMETBFT) return verify_cometbft(t, hdr, state_height, root, out);
  return ag_fail(AG_E_NO_TRUST_ANCHOR, "no trust anchor loaded");
}
