/*
 * smt.h — the sparse Merkle tree that authenticates Agora's state (docs/state-tree.md).
 *
 * A binary tree over 256-bit keys (state keys are hashed first, so paths are uniformly
 * spread). Compressed the way Diem's JMT is: a subtree holding exactly one leaf is that leaf,
 * placed at the shortest unique prefix; an empty subtree hashes to 32 zero bytes; there are no
 * other shortcuts.
 *   leaf hash = BLAKE2b-256("agora/smt/leaf", key || value_hash)
 *   node hash = BLAKE2b-256("agora/smt/node", left || right)
 * The tree lives in memory (about 100 bytes per key) and is rebuilt from the state store on
 * start; LMDB holds the keys and values. It keeps only the latest version, so proofs are for
 * the latest committed root. Not thread-safe: the caller serializes writers against readers.
 */
#ifndef AG_SMT_H
#define AG_SMT_H

#include <stddef.h>
#include <stdint.h>

#define AG_SMT_MAX_DEPTH 256

typedef struct ag_smt ag_smt;

typedef struct {
  uint8_t key[32];
  uint8_t value_hash[32];
  int remove; /* 1 = delete the key (no-op if absent) */
} ag_smt_update;

typedef struct {
  uint16_t depth;          /* number of siblings, top first */
  uint8_t siblings[AG_SMT_MAX_DEPTH][32];
  int terminal;            /* 0 = empty subtree, 1 = a leaf */
  uint8_t leaf_key[32];    /* the leaf found at the end of the path, when terminal == 1 */
  uint8_t leaf_value_hash[32];
} ag_smt_proof;

ag_smt *ag_smt_new(void);
void ag_smt_free(ag_smt *t); /* accepts NULL */
void ag_smt_root(const ag_smt *t, uint8_t out[32]);
size_t ag_smt_leaves(const ag_smt *t);
size_t ag_smt_memory(const ag_smt *t); /* bytes held by nodes */

/* Applies updates; u must be sorted by key with unique keys. threads > 1 splits the work
 * between the two halves of the tree. */
void ag_smt_apply(ag_smt *t, const ag_smt_update *u, size_t n, int threads);

/* Walks to key. Sets terminal and leaf_key; leaf_value_hash is filled by the caller (the tree
 * stores only leaf hashes) — ag_smt_proof_leaf_hash_ok checks it. */
void ag_smt_prove(const ag_smt *t, const uint8_t key[32], ag_smt_proof *p);
/* 1 when the stored leaf hash equals H(leaf_key || leaf_value_hash). */
int ag_smt_proof_leaf_hash_ok(const ag_smt *t, const ag_smt_proof *p);

/* Verifies a proof against root. value_hash non-NULL: proves key -> value; NULL: proves key is
 * absent. 0 or AG_E_PROOF. Needs no tree: this is what a light client runs. */
int ag_smt_verify(const uint8_t root[32], const uint8_t key[32], const uint8_t *value_hash,
                  const ag_smt_proof *p);

void ag_smt_leaf_hash(const uint8_t key[32], const uint8_t value_hash[32], uint8_t out[32]);

#endif
