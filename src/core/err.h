/*
 * err.h — Agora's one error space.
 *
 * Anything that can fail returns int: 0 on success, a negative AG_E_* code on failure.
 * Every code has a stable snake_case name (used in JSON errors and docs/errors.md) and a
 * generic message. A function that knows more (which nonce, which field) records a detailed
 * message with ag_fail(); ag_errmsg(code) returns it on the same thread, or the generic one.
 *
 * Codes are grouped in bands so that modules can add codes without touching each other:
 *   -1..-99 generic and encoding, -100..-199 crypto and keys, -200..-299 transactions, blocks
 *   and ledger state, -300..-399 API and node, -400..-499 AI engine, -500..-599 incentive
 *   layer, -600..-699 subnet protocols, -700..-799 consensus drivers, -800..-899 economy.
 * The ABCI code of an error is its negation (a uint32 > 0); 0 means OK there too.
 */
#ifndef AG_ERR_H
#define AG_ERR_H

#include <stddef.h>

/* X(symbol, value, name, generic message) */
#define AG_ERR_LIST(X)                                                                           \
  X(AG_OK, 0, "ok", "success")                                                                 \
  /* generic */                                                                                \
  X(AG_E_NOMEM, -1, "out_of_memory", "out of memory")                                          \
  X(AG_E_INVALID, -2, "invalid_argument", "invalid argument")                                  \
  X(AG_E_IO, -3, "io_error", "input/output error")                                             \
  X(AG_E_NOTFOUND, -4, "not_found", "not found")                                               \
  X(AG_E_EXISTS, -5, "already_exists", "already exists")                                       \
  X(AG_E_RANGE, -6, "out_of_range", "value out of range")                                      \
  X(AG_E_OVERFLOW, -7, "overflow", "arithmetic overflow")                                      \
  X(AG_E_TIMEOUT, -8, "timeout", "operation timed out")                                        \
  X(AG_E_UNSUPPORTED, -9, "unsupported", "unsupported operation or format")                    \
  X(AG_E_INTERNAL, -10, "internal_error", "internal error")                                    \
  X(AG_E_BUSY, -11, "busy", "resource busy")                                                   \
  X(AG_E_CORRUPT, -12, "corrupt_data", "stored data is corrupt")                               \
  X(AG_E_PERM, -13, "permission_denied", "permission denied")                                  \
  X(AG_E_CANCELLED, -14, "cancelled", "cancelled by the user")                                 \
  X(AG_E_USAGE, -15, "usage", "invalid command-line usage")                                    \
  /* encoding */                                                                               \
  X(AG_E_TRUNCATED, -20, "truncated", "input ends early")                                      \
  X(AG_E_TRAILING, -21, "trailing_bytes", "unexpected bytes after the end of the input")      \
  X(AG_E_TOO_LARGE, -22, "too_large", "input is larger than allowed")                          \
  X(AG_E_NONCANONICAL, -23, "non_canonical", "input is not in canonical form")                 \
  X(AG_E_BAD_HEX, -24, "bad_hex", "invalid hexadecimal string")                                \
  X(AG_E_BAD_BASE64, -25, "bad_base64", "invalid base64 string")                               \
  X(AG_E_BAD_JSON, -26, "bad_json", "malformed JSON")                                          \
  X(AG_E_BAD_AMOUNT, -27, "bad_amount", "invalid amount")                                      \
  X(AG_E_ADDR_FORMAT, -30, "bad_address", "malformed address")                                 \
  X(AG_E_ADDR_CHECKSUM, -31, "address_checksum", "address checksum mismatch (typo?)")          \
  X(AG_E_ADDR_PREFIX, -32, "address_prefix", "address has the wrong prefix")                   \
  /* crypto and keys */                                                                        \
  X(AG_E_BAD_SIGNATURE, -100, "bad_signature", "signature does not verify")                    \
  X(AG_E_BAD_KEY, -101, "bad_key", "invalid key")                                              \
  X(AG_E_KEYSTORE_CORRUPT, -102, "keystore_corrupt", "keystore file is corrupt")              \
  X(AG_E_BAD_PASSPHRASE, -103, "bad_passphrase", "wrong passphrase")                           \
  X(AG_E_PASSPHRASE_REQUIRED, -104, "passphrase_required",                                     \
    "a passphrase is required (set AGORA_PASSPHRASE, or use --passphrase-file or "             \
    "--passphrase-fd)")                                                                        \
  X(AG_E_KEY_NOT_FOUND, -105, "key_not_found", "no key with that name")                        \
  X(AG_E_INSECURE_KEY, -106, "insecure_key",                                                   \
    "an unencrypted dev key may only sign for its own devnet")                                 \
  X(AG_E_BACKUP_CHECKSUM, -107, "backup_checksum", "key backup checksum mismatch (typo?)")     \
  X(AG_E_KEYSTORE_WEAK_KDF, -108, "keystore_weak_kdf",                                         \
    "keystore key derivation weaker than Agora writes, unknown, or over its cost bounds")      \
  /* transactions, blocks, ledger */                                                           \
  X(AG_E_TX_VERSION, -200, "tx_version", "unsupported transaction version")                    \
  X(AG_E_TX_KIND, -201, "tx_unknown_kind", "unknown transaction kind")                         \
  X(AG_E_TX_CHAIN_ID, -202, "tx_wrong_chain", "transaction is for another chain")              \
  X(AG_E_TX_NONCE_USED, -203, "tx_nonce_used", "nonce already used (replay)")                  \
  X(AG_E_TX_NONCE_GAP, -204, "tx_nonce_gap", "nonce is ahead of the account's next nonce")    \
  X(AG_E_TX_BALANCE, -205, "insufficient_balance", "insufficient balance")                     \
  X(AG_E_TX_FEE_LOW, -206, "fee_too_low", "fee is below the minimum")                          \
  X(AG_E_TX_AMOUNT, -207, "bad_amount_value", "amount must be positive")                       \
  X(AG_E_TX_AMOUNT_OVERFLOW, -208, "amount_overflow", "amounts overflow")                      \
  X(AG_E_TX_TOO_LARGE, -209, "tx_too_large", "transaction exceeds the size limit")             \
  X(AG_E_TX_RECIPIENTS, -210, "bad_recipients", "invalid number of recipients")                \
  X(AG_E_TX_DUPLICATE, -211, "tx_duplicate", "transaction is already known")                   \
  X(AG_E_MEMPOOL_FULL, -212, "mempool_full", "mempool is full")                                \
  X(AG_E_TX_EXPIRED, -213, "tx_expired", "transaction expired (valid_until passed)")           \
  X(AG_E_TX_PAYLOAD, -214, "tx_bad_payload", "transaction payload is malformed")               \
  X(AG_E_BLOCK_HEIGHT, -220, "block_height", "block has the wrong height")                     \
  X(AG_E_BLOCK_PREV, -221, "block_prev_hash", "block does not extend the chain")               \
  X(AG_E_BLOCK_TX_ROOT, -222, "block_tx_root", "block transaction root mismatch")              \
  X(AG_E_BLOCK_STATE_ROOT, -223, "block_state_root", "block state root mismatch")              \
  X(AG_E_BLOCK_SIGNATURE, -224, "block_signature", "block signature does not verify")          \
  X(AG_E_BLOCK_TOO_LARGE, -225, "block_too_large", "block exceeds the size limit")             \
  X(AG_E_BLOCK_TIME, -226, "block_time", "block time goes backwards")                          \
  X(AG_E_GENESIS, -230, "bad_genesis", "invalid genesis")                                      \
  X(AG_E_STATE_MISMATCH, -231, "state_mismatch", "state does not match the recorded root")    \
  X(AG_E_PROOF, -232, "bad_proof", "proof does not verify against the root")                   \
  X(AG_E_STATE_LIMIT, -233, "state_limit",                                                     \
    "the transaction would write a state value larger than the store allows")                  \
  /* light-client proofs (-234..-240): is the root the one the chain's validators signed? */   \
  X(AG_E_UNTRUSTED_ROOT, -234, "untrusted_root",                                               \
    "the proof's state root is not the one the signed header commits to")                      \
  X(AG_E_HEADER_SIGNATURE, -235, "header_signature",                                           \
    "a header signature does not verify against the chain's trusted keys")                     \
  X(AG_E_VOTING_POWER, -236, "insufficient_voting_power",                                      \
    "the commit is not signed by more than 2/3 of the trusted voting power")                   \
  X(AG_E_VALSET_CHANGED, -237, "validator_set_changed",                                        \
    "the validator set changed, and the new one is not shown to be trusted")                   \
  X(AG_E_NO_TRUST_ANCHOR, -238, "no_trust_anchor",                                             \
    "the genesis names no block producer or validator set to check headers against")           \
  X(AG_E_BAD_HEADER, -239, "bad_header",                                                       \
    "the signed header is malformed or not for this chain and height")                         \
  X(AG_E_TRUST_EXPIRED, -240, "trust_expired",                                                 \
    "the last trusted header is older than the trusting period; trust a recent one")           \
  /* API and node */                                                                           \
  X(AG_E_HTTP_BODY_TOO_LARGE, -300, "body_too_large", "request body too large")                \
  X(AG_E_HTTP_METHOD, -301, "method_not_allowed", "method not allowed")                        \
  X(AG_E_HTTP_ROUTE, -302, "no_such_route", "no such endpoint")                                \
  X(AG_E_HTTP_BAD_REQUEST, -303, "bad_request", "bad request")                                 \
  X(AG_E_UNAVAILABLE, -304, "unavailable", "service unavailable")                              \
  X(AG_E_CONNECT, -305, "connect_failed", "cannot reach the node")                             \
  X(AG_E_HTTP_STATUS, -306, "http_error", "unexpected HTTP response")                          \
  X(AG_E_LOCKED, -307, "locked", "the home folder is in use by another process")               \
  X(AG_E_HTTP_URI_TOO_LONG, -308, "uri_too_long", "the request target is too long")           \
  X(AG_E_HTTP_HEADERS_TOO_LARGE, -309, "headers_too_large",                                    \
    "the request head has too many or too large header fields")                                \
  X(AG_E_HTTP_VERSION, -310, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are served") \
  X(AG_E_HTTP_TIMEOUT, -311, "request_timeout", "the request did not arrive in time")          \
  X(AG_E_HTTP_TOO_MANY, -312, "too_many_connections", "too many connections from this address") \
  X(AG_E_ADDR_IN_USE, -313, "address_in_use", "the listening address is already in use")      \
  X(AG_E_HTTP_MEDIA_TYPE, -314, "unsupported_media_type", "the body's Content-Type is not accepted here") \
  /* AI engine: -400..-499 */                                                                  \
  X(AG_E_MODEL_MAGIC, -400, "model_bad_magic", "not an Agora model file (bad magic)")          \
  X(AG_E_MODEL_VERSION, -401, "model_version", "unsupported model file version")               \
  X(AG_E_MODEL_CONFIG, -402, "model_bad_config", "invalid model configuration")                \
  X(AG_E_MODEL_TRUNCATED, -403, "model_truncated", "model file is truncated or has bad sizes") \
  X(AG_E_MODEL_TYPE, -404, "model_tensor_type", "unsupported tensor type")                     \
  X(AG_E_MODEL_TOKENIZER, -405, "model_bad_tokenizer", "invalid tokenizer in the model")       \
  X(AG_E_MODEL_NO_TOKENIZER, -406, "model_no_tokenizer", "the model has no tokenizer")         \
  X(AG_E_GGUF_MAGIC, -410, "gguf_bad_magic", "not a GGUF file (bad magic)")                    \
  X(AG_E_GGUF_VERSION, -411, "gguf_version", "unsupported GGUF version")                       \
  X(AG_E_GGUF_CORRUPT, -412, "gguf_corrupt", "malformed GGUF file")                            \
  X(AG_E_GGUF_ARCH, -413, "gguf_arch", "unsupported GGUF model architecture")                  \
  X(AG_E_GGUF_TYPE, -414, "gguf_tensor_type", "unsupported GGUF tensor type")                  \
  X(AG_E_GGUF_MISSING, -415, "gguf_missing", "GGUF file lacks a required key or tensor")       \
  X(AG_E_GGUF_KEY, -416, "gguf_unsupported", "GGUF key or tensor changes the computation and is not supported") \
  X(AG_E_ENGINE_CONTEXT, -420, "engine_context_overflow",                                      \
    "prompt and output do not fit in the model's context")                                     \
  X(AG_E_ENGINE_SAMPLING, -421, "engine_bad_sampling", "invalid sampling parameters")          \
  X(AG_E_ENGINE_DATA, -422, "engine_no_data", "no training data")                              \
  X(AG_E_RECEIPT_FORMAT, -430, "receipt_malformed", "malformed inference receipt")             \
  X(AG_E_RECEIPT_MODEL, -431, "receipt_wrong_model", "the receipt is for another model")       \
  X(AG_E_RECEIPT_TOKEN, -432, "receipt_token_mismatch",                                        \
    "a token differs from what the model samples with the receipt's seed")                     \
  X(AG_E_RECEIPT_LOGITS, -433, "receipt_logits_mismatch",                                      \
    "committed logits differ from the re-execution")                                           \
  X(AG_E_RECEIPT_COMMIT, -434, "receipt_commitment_mismatch",                                  \
    "the commitment hash does not match the logits")                                           \
  /* incentive layer: -500..-599 (-590..-599: the Yuma epoch, src/incentive/yuma*) */        \
  X(AG_E_YUMA_INPUT, -590, "yuma_bad_input",                                                   \
    "epoch input is inconsistent (lengths, row order, uid range, stake total)")                \
  X(AG_E_YUMA_PARAM, -591, "yuma_bad_param", "epoch hyperparameter out of range")              \
  X(AG_E_YUMA_CASE, -592, "yuma_bad_case", "malformed Yuma case file")                         \
  X(AG_E_YUMA_MISMATCH, -593, "yuma_mismatch", "epoch result differs from the expected value") \
  /* (-520..-589: chain state of the incentive layer) */         \
  X(AG_E_SUBNET_NOT_FOUND, -520, "subnet_not_found", "no such subnet")                        \
  X(AG_E_NOT_OWNER, -521, "not_owner", "only the owner may do this")                           \
  X(AG_E_HYPERPARAM, -522, "bad_hyperparameter", "hyperparameter unknown or out of bounds")   \
  X(AG_E_NOT_REGISTERED, -523, "not_registered", "hotkey is not registered on the subnet")    \
  X(AG_E_ALREADY_REGISTERED, -524, "already_registered", "hotkey is already registered")      \
  X(AG_E_SUBNET_FULL, -525, "subnet_full", "subnet is full and every neuron is immune")        \
  X(AG_E_COST_ABOVE_MAX, -526, "cost_above_max", "the cost is above the signed maximum")       \
  X(AG_E_WEIGHTS_LEN, -527, "weights_length_mismatch", "uids and weights differ in length")   \
  X(AG_E_WEIGHTS_UID, -528, "weights_bad_uid", "weight for a uid that does not exist")        \
  X(AG_E_WEIGHTS_DUP, -529, "weights_duplicate_uid", "the same uid appears twice")            \
  X(AG_E_WEIGHTS_TOO_FEW, -530, "weights_too_few", "fewer weights than the subnet requires")  \
  X(AG_E_WEIGHTS_RATE, -531, "weights_rate_limited", "weights set too soon after the last")   \
  X(AG_E_NO_PERMIT, -532, "no_validator_permit", "only permitted validators may set weights") \
  X(AG_E_WEIGHTS_VERSION, -533, "weights_version", "weights version key is too old")           \
  X(AG_E_COMMIT_REVEAL_ON, -534, "commit_reveal_required",                                   \
    "this subnet uses commit-reveal: commit a hash, then reveal")                              \
  X(AG_E_COMMIT_REVEAL_OFF, -535, "commit_reveal_off", "this subnet does not use commit-reveal") \
  X(AG_E_REVEAL_EARLY, -536, "reveal_too_early", "reveal before the reveal period")            \
  X(AG_E_REVEAL_LATE, -537, "reveal_too_late", "the commit expired")                           \
  X(AG_E_REVEAL_MISMATCH, -538, "reveal_mismatch", "no commit matches these weights and salt") \
  X(AG_E_TOO_MANY_COMMITS, -539, "too_many_commits", "too many unrevealed commits")             \
  X(AG_E_STAKE_INSUFFICIENT, -540, "insufficient_stake", "less stake than requested")          \
  X(AG_E_HOTKEY_OWNER, -541, "hotkey_owner", "hotkey belongs to another coldkey or to none")   \
  X(AG_E_HOTKEY_SIG, -542, "hotkey_signature", "hotkey did not sign the claim")               \
  X(AG_E_TOO_MANY_SUBNETS, -543, "too_many_subnets", "the subnet limit is reached")            \
  X(AG_E_MAX_WEIGHT, -544, "weight_above_limit", "a weight exceeds max_weight_limit")          \
  X(AG_E_NOT_SUDO, -545, "not_sudo", "only the sudo key may do this")                          \
  X(AG_E_TAKE, -546, "bad_take", "take above the maximum")                                    \
  X(AG_E_STAKE_BELOW_MIN, -547, "stake_below_minimum", "a stake must be at least min_stake")    \
  X(AG_E_STAKERS_FULL, -548, "stakers_full",                                                   \
    "the hotkey has the most stakers allowed and this stake is not above the smallest")        \
  X(AG_E_STAKE_LIMIT, -549, "stake_limit", "the coldkey has stake on the most hotkeys allowed") \
  X(AG_E_BAD_ENDPOINT, -550, "bad_endpoint",                                                   \
    "the endpoint is not a public host name or IP address")                                    \
  X(AG_E_VALIDATOR_KEY_SIG, -551, "validator_key_signature", "the consensus key did not sign the bond") \
  X(AG_E_VALIDATOR_KEY_TAKEN, -552, "validator_key_taken",                                     \
    "the consensus key is bonded by another account, or a validator by genesis or sudo")      \
  X(AG_E_VALIDATOR_BOND_LOW, -553, "validator_bond_too_low", "a validator's bond is below the chain's minimum") \
  X(AG_E_VALIDATOR_CANDIDATES_FULL, -554, "validator_candidates_full",                         \
    "the chain keeps the most bonded consensus keys it may")                                   \
  X(AG_E_VALIDATOR_TOMBSTONED, -555, "validator_tombstoned",                                   \
    "the consensus key signed twice at one height and may never validate again")              \
  /* subnet protocols: -600..-699 */                                                           \
  X(AG_E_INF_SIGNATURE, -600, "inference_bad_signature",                                     \
    "the miner's signature over the answer does not verify")                                   \
  X(AG_E_INF_REQUEST, -601, "inference_wrong_request", "the answer is for another request")  \
  X(AG_E_INF_RECEIPT, -602, "inference_wrong_receipt",                                       \
    "the receipt is for another model, prompt or sampling")                                    \
  X(AG_E_INF_TEXT, -603, "inference_wrong_text", "the text is not the receipt's output")      \
  X(AG_E_INF_MALFORMED, -604, "inference_malformed", "the answer lacks its proof or is malformed") \
  X(AG_E_INF_OVERLOADED, -605, "overloaded", "the miner's queue is full")                       \
  X(AG_E_MODEL_UNAVAILABLE, -606, "model_unavailable", "the subnet's model cannot be fetched")  \
  X(AG_E_MODEL_MISMATCH, -607, "model_mismatch", "the file is not the model with that id")      \
  X(AG_E_MODEL_NOT_PINNED, -608, "model_not_pinned", "no subnet pins this model")                \
  X(AG_E_NO_MINERS, -609, "no_miners", "no miner of the subnet gave a valid answer")             \
  X(AG_E_MODEL_CHANGED, -610, "model_changed", "the subnet pinned another model; restart on it")  \
  /* training subnet: -620..-649 */                                                             \
  X(AG_E_PG_MALFORMED, -620, "pgrad_malformed", "the pseudo-gradient blob does not decode")      \
  X(AG_E_PG_SHAPE, -621, "pgrad_wrong_shape",                                                   \
    "the pseudo-gradient is for another model shape, round or checkpoint")                      \
  X(AG_E_PG_NONFINITE, -622, "pgrad_not_finite", "the pseudo-gradient holds NaN or Inf")         \
  X(AG_E_PG_TOO_LARGE, -623, "pgrad_too_large", "the blob is larger than the subnet allows")     \
  X(AG_E_BLOB_MISMATCH, -624, "blob_mismatch", "the blob does not match its announced hash")    \
  X(AG_E_BLOB_NOT_ANNOUNCED, -625, "blob_not_announced", "no transaction announces this blob")  \
  X(AG_E_TRAIN_KIND, -630, "not_training_subnet", "the subnet does not train a model")         \
  X(AG_E_TRAIN_ROUND, -631, "train_wrong_round", "the submission is for another round")        \
  X(AG_E_TRAIN_BASE, -632, "train_wrong_model",                                               \
    "the submission is built on another checkpoint than the canonical one")                    \
  X(AG_E_TRAIN_WINDOW, -633, "train_window_closed", "outside the round's window for this")     \
  X(AG_E_TRAIN_DUPLICATE, -634, "train_duplicate", "already submitted in this round")          \
  X(AG_E_TRAIN_PROPOSAL, -635, "train_bad_proposal",                                          \
    "the proposal names unknown submissions or is malformed")                                  \
  X(AG_E_TRAIN_REVEAL, -636, "train_reveal_mismatch",                                         \
    "the reveal is not what this hotkey committed to in the round")                            \
  /* consensus drivers: -700..-799 */                                                          \
  /* economy: -800..-899 (payment channels and vouchers: -800..-829) */                        \
  X(AG_E_CHANNEL_NOT_FOUND, -800, "channel_not_found", "no such payment channel")              \
  X(AG_E_CHANNEL_ROLE, -801, "channel_not_party",                                              \
    "only the channel's client (or, for this action, its provider) may do this")               \
  X(AG_E_CHANNEL_CLOSED, -802, "channel_closed", "the channel is closed")                      \
  X(AG_E_CHANNEL_EXPIRED, -803, "channel_expired",                                             \
    "the channel is past its expiry height: it can only be closed")                            \
  X(AG_E_CHANNEL_SETTLING, -804, "channel_settling",                                           \
    "the client's close is waiting for the settle delay to end")                               \
  X(AG_E_CHANNEL_DEPOSIT, -805, "channel_deposit_low", "the deposit is below the chain's minimum") \
  X(AG_E_CHANNEL_TERMS, -806, "channel_bad_terms",                                             \
    "the channel's provider, settle delay or expiry is not allowed")                           \
  X(AG_E_VOUCHER_MALFORMED, -810, "voucher_malformed", "the voucher does not decode")          \
  X(AG_E_VOUCHER_SIGNATURE, -811, "voucher_bad_signature",                                     \
    "the voucher is not signed by the channel's signer")                                       \
  X(AG_E_VOUCHER_CHAIN, -812, "voucher_wrong_chain", "the voucher is for another chain")       \
  X(AG_E_VOUCHER_CHANNEL, -813, "voucher_wrong_channel", "the voucher is for another channel") \
  X(AG_E_VOUCHER_STALE, -814, "voucher_stale",                                                 \
    "the voucher's cumulative amount is not above what the channel has paid")                  \
  X(AG_E_VOUCHER_SEQ, -815, "voucher_sequence",                                                \
    "the voucher's sequence is not above the last one redeemed")                               \
  X(AG_E_VOUCHER_OVER_DEPOSIT, -816, "voucher_over_deposit",                                   \
    "the voucher is for more than the channel's deposit")                                      \
  X(AG_E_CLAIM_ABOVE_VOUCHER, -817, "claim_above_voucher",                                     \
    "the claim asks for more than the voucher's cumulative amount")                            \
  /* offers and bonds: -830..-849 */                                                           \
  X(AG_E_OFFER_NOT_FOUND, -830, "offer_not_found", "the provider has no offer for that model") \
  X(AG_E_BOND_NOT_FOUND, -831, "bond_not_found", "the hotkey has no bond")                     \
  X(AG_E_BOND_LOW, -832, "bond_too_low", "the provider's bond is below the chain's minimum")   \
  X(AG_E_BOND_LOCKED, -833, "bond_locked", "the unbonded amount is still locked")              \
  X(AG_E_BOND_INSUFFICIENT, -834, "bond_insufficient", "less bonded or unbonding than asked")  \
  X(AG_E_BOND_HAS_OFFERS, -835, "bond_has_offers",                                             \
    "the bond would fall below the minimum while offers rely on it; remove them first")        \
  X(AG_E_OFFERS_FULL, -836, "offers_full",                                                     \
    "the model has the most offers allowed and this bond is not above the smallest")           \
  X(AG_E_OFFER_TERMS, -837, "offer_bad_terms", "max_tokens is outside 1..1,000,000")          \
  /* paid requests: -850..-869 */                                                              \
  X(AG_E_PAY_REQUIRED, -850, "payment_required",                                               \
    "this provider charges for answers: send a voucher (X-Agora-Voucher)")                     \
  X(AG_E_PAY_INSUFFICIENT, -851, "payment_insufficient",                                       \
    "the voucher does not cover the request at the offer's price")                             \
  X(AG_E_PAY_RECEIPT, -852, "payment_receipt_invalid",                                         \
    "the provider's payment receipt does not match the request, the offer or the channel")     \
  /* assets, vaults and shares: -870..-889 */                                                  \
  X(AG_E_ASSET_NOT_FOUND, -870, "asset_not_found", "no asset with that id")                     \
  X(AG_E_ASSET_EXISTS, -871, "asset_exists", "an asset with that id is registered already")      \
  X(AG_E_ASSET_TERMS, -872, "asset_bad_terms",                                                 \
    "the asset's kind, supply or royalty rate is not allowed")                                 \
  X(AG_E_ASSET_ANCESTORS, -873, "asset_ancestors",                                             \
    "too many ancestors, or their royalties add up to more than the chain allows")             \
  X(AG_E_ASSET_HOLDERS, -874, "asset_holders_full", "the asset has the most holders allowed")   \
  X(AG_E_SHARES_INSUFFICIENT, -875, "shares_insufficient", "fewer shares held than asked")      \
  X(AG_E_HOLDING_NOT_FOUND, -876, "holding_not_found", "that holder has no shares of the asset") \
  /* disputes: -890..-909 */                                                                   \
  X(AG_E_DISPUTE_EVIDENCE, -890, "dispute_bad_evidence",                                       \
    "the evidence is malformed or not signed by the provider")                                 \
  X(AG_E_DISPUTE_WINDOW, -891, "dispute_outside_window",                                       \
    "the receipt is older than the dispute window")                                            \
  X(AG_E_DISPUTE_BOND, -892, "dispute_bond_low", "the dispute carries less than the least bond") \
  X(AG_E_DISPUTE_EXISTS, -893, "dispute_exists", "that answer is disputed already")           \
  X(AG_E_DISPUTE_SUBNET, -894, "dispute_wrong_subnet",                                         \
    "the subnet does not serve the channel's model, so its validators cannot judge")           \
  X(AG_E_DISPUTE_COMMITTEE, -895, "dispute_no_committee",                                      \
    "the subnet has no validator with a permit and stake to judge")                            \
  X(AG_E_DISPUTE_NOT_FOUND, -896, "dispute_not_found", "no dispute with that id")              \
  X(AG_E_DISPUTE_PHASE, -897, "dispute_wrong_phase",                                           \
    "the dispute is not in the phase that takes this (the committee drawn, then commit, then reveal)") \
  X(AG_E_DISPUTE_MEMBER, -898, "dispute_not_member", "the signer is not on the dispute's committee") \
  X(AG_E_DISPUTE_REVEAL, -899, "dispute_reveal_mismatch", "the reveal does not match the commit") \
  X(AG_E_DISPUTES_FULL, -900, "disputes_full", "the chain has the most open disputes allowed") \
  X(AG_E_BOND_DISPUTED, -901, "bond_disputed", "disputes against the bond are open; it cannot be withdrawn") \
  /* agent keys: -910..-929 */                                                                  \
  X(AG_E_AGENT_UNKNOWN, -910, "agent_key_unknown", "the account has no such agent key")         \
  X(AG_E_AGENT_EXPIRED, -911, "agent_key_not_live", "the agent key has expired or is not live yet") \
  X(AG_E_AGENT_FROZEN, -912, "agent_keys_frozen", "the account froze its agent keys")          \
  X(AG_E_AGENT_KIND, -913, "agent_kind_denied", "the agent key may not run that kind of tx")   \
  X(AG_E_AGENT_RECIPIENT, -914, "agent_recipient_denied", "the agent key may not pay that recipient") \
  X(AG_E_AGENT_TX_LIMIT, -915, "agent_over_tx_limit", "the tx takes more than the agent key's limit per tx") \
  X(AG_E_AGENT_PERIOD_CAP, -916, "agent_over_period_cap", "the agent key's cap for this window is reached") \
  X(AG_E_AGENT_LIFETIME_CAP, -917, "agent_over_lifetime_cap", "the agent key's lifetime cap is reached") \
  X(AG_E_AGENT_FEE_CAP, -918, "agent_over_fee_cap", "the agent key's fee cap is reached")     \
  X(AG_E_AGENT_TERMS, -919, "agent_terms_invalid", "the agent key's terms are invalid")      \
  X(AG_E_AGENT_KEYS_FULL, -920, "agent_keys_full", "the account has the most agent keys allowed") \
  X(AG_E_AGENT_AUTH, -921, "agent_not_authorised", "only the account or the key itself may do that")

enum {
#define AG_ERR_ENUM(sym, val, name, msg) sym = val,
  AG_ERR_LIST(AG_ERR_ENUM)
#undef AG_ERR_ENUM
};

/* Generic message for a code; never NULL ("unknown error" for unknown codes). */
const char *ag_strerror(int code);
/* Stable snake_case name for a code; never NULL ("unknown"). */
const char *ag_err_name(int code);
/* Looks a name up; returns 1 and sets *code when found. */
int ag_err_from_name(const char *name, int *code);

/* Records a detailed message for code on this thread and returns code. */
int ag_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The detailed message recorded for code on this thread, else ag_strerror(code). */
const char *ag_errmsg(int code);
/* Forgets the recorded message on this thread. */
void ag_err_clear(void);

/* Every code in the list, for docs generation and tests. */
size_t ag_err_count(void);
int ag_err_at(size_t i);

#endif
