/*
 * txsubmit.h — the one path every CLI command takes to put a transaction on chain: load the
 * signing key (passphrase when encrypted; dev keys only on their chain), read the chain id,
 * height, fee parameters and the signer's pending nonce from the node, build the payload,
 * show a preview and confirm on a terminal, sign, submit, wait until committed, and print the
 * result (text or --json). Returns the process exit code.
 */
#ifndef AG_CLI_TXSUBMIT_H
#define AG_CLI_TXSUBMIT_H

#include "chain/tx.h"
#include "cli/cli.h"
#include "core/buf.h"

typedef struct {
  char chain_id[AG_CHAIN_ID_MAX + 1];
  uint64_t height;          /* the node's committed height */
  uint64_t nonce;           /* the nonce the tx will carry */
  const ag_keypair *signer;
  const uint8_t *account;   /* whose tx it is: the signer's, or with --for the account an agent
                               key acts for */
} ag_tx_env;

typedef struct {
  const char *key;          /* signer: a key name in HOME/keys */
  uint16_t kind;
  /* Fills the payload; may print preview lines to stderr. 0 or an AG_E_* code (ag_fail). */
  int (*build)(void *ctx, const ag_tx_env *env, ag_buf *payload);
  void *ctx;
  const char *summary;      /* "stake 10 AGR on agora1..." for the preview and the result */
  const char *fee;          /* --fee AGR, or NULL for the minimum */
  const char *valid_for;    /* --valid-for N blocks, or NULL */
  bool no_wait;
} ag_txreq;

int ag_cli_submit(ag_cli *c, const ag_txreq *req);
/* Loads a signing key for chain_id (exposed for commands that sign other things too). */
int ag_cli_load_signer(ag_cli *c, const char *name, const char *chain_id, ag_keypair *k);

#endif
