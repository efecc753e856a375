"""Transactions, byte for byte as the C node encodes them (docs/encoding.md): the version-1
envelope, its sighash and id, and the payloads of the common kinds. All integers little-endian."""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Iterable, List, Sequence, Tuple

from .bech32 import public_key
from .keys import Keypair

AGR = 10**9  # base units per AGR

TRANSFER, MULTI_TRANSFER = 1, 2
STAKE_ADD, STAKE_REMOVE, SET_TAKE = 10, 11, 12
REGISTER, SERVE, SET_WEIGHTS, COMMIT_WEIGHTS, REVEAL_WEIGHTS = 15, 16, 17, 18, 19
VALIDATOR_BOND, VALIDATOR_UNBOND = 26, 27  # CometBFT chains (docs/multi-validator.md "Validators by bond")


def blake2b(domain: str, data: bytes) -> bytes:
    """BLAKE2b-256 with the domain tag as personalization (docs/encoding.md "Hashes")."""
    return hashlib.blake2b(data, digest_size=32, person=domain.encode()).digest()


def _pk(x) -> bytes:
    if isinstance(x, (bytes, bytearray)):
        if len(x) != 32:
            raise ValueError("a public key is 32 bytes")
        return bytes(x)
    return public_key(x)


def _u64(v: int) -> bytes:
    if not 0 <= v < 1 << 64:
        raise ValueError(f"{v} is not a u64")
    return struct.pack("<Q", v)


@dataclass(frozen=True)
class Tx:
    """A decoded transaction."""
    kind: int
    chain_id: str
    sender: bytes
    nonce: int
    fee: int
    valid_until: int
    payload: bytes
    signature: bytes
    raw: bytes

    @property
    def hash(self) -> str:
        return blake2b("agora/txid", self.raw).hex()

    def sighash(self) -> bytes:
        return blake2b("agora/sighash", self.raw[:-64])


def unsigned(kind: int, chain_id: str, sender: bytes, nonce: int, fee: int, valid_until: int, payload: bytes) -> bytes:
    cid = chain_id.encode("ascii")
    if not 1 <= len(cid) <= 32:
        raise ValueError("a chain id is 1..32 characters")
    return (bytes([1]) + struct.pack("<H", kind) + bytes([len(cid)]) + cid + _pk(sender) + _u64(nonce) + _u64(fee)
            + _u64(valid_until) + struct.pack("<I", len(payload)) + payload)


def build(kind: int, chain_id: str, key: Keypair, nonce: int, fee: int, payload: bytes, valid_until: int = 0) -> bytes:
    """The signed tx bytes (what POST /v1/txs takes)."""
    body = unsigned(kind, chain_id, key.public_key, nonce, fee, valid_until, payload)
    return body + key.sign(blake2b("agora/sighash", body))


def size(chain_id: str, payload_len: int) -> int:
    return 64 + len(chain_id) + payload_len + 64


def fee_units(kind: int, payload: bytes) -> int:
    """How many base fees a tx of kind pays: one, except a channel_claims (49), one per claim,
    and an agent_exec (48), its action's (docs/encoding.md)."""
    if kind == 49 and len(payload) >= 2:
        return max(1, struct.unpack_from("<H", payload)[0])
    if kind == 48 and len(payload) >= 34:
        return fee_units(struct.unpack_from("<H", payload, 32)[0], payload[34:])
    return 1


def min_fee(params: dict, chain_id: str, payload_len: int, units: int = 1) -> int:
    """The least fee the chain takes for such a tx (status "params": base × units + per byte × size)."""
    return int(params["base_fee"]) * units + int(params["per_byte_fee"]) * size(chain_id, payload_len)


def decode(raw: bytes) -> Tx:
    if len(raw) < 4 or raw[0] != 1:
        raise ValueError("not a version-1 tx")
    kind = struct.unpack_from("<H", raw, 1)[0]
    L = raw[3]
    o = 4 + L
    if len(raw) < o + 60 + 64:
        raise ValueError("truncated")
    sender = raw[o:o + 32]
    nonce, fee, until, plen = struct.unpack_from("<QQQI", raw, o + 32)
    p0 = o + 60
    if len(raw) != p0 + plen + 64:
        raise ValueError("truncated or trailing bytes")
    return Tx(kind, raw[4:4 + L].decode("ascii"), sender, nonce, fee, until, raw[p0:p0 + plen], raw[-64:], bytes(raw))


# ---- payloads ------------------------------------------------------------------------------

def transfer(to, amount: int) -> bytes:
    if amount <= 0:
        raise ValueError("an amount is above 0")
    return _pk(to) + _u64(amount)


def multi_transfer(pairs: Iterable[Tuple[object, int]]) -> bytes:
    items = list(pairs)
    if not 1 <= len(items) <= 256:
        raise ValueError("1 to 256 recipients")
    return struct.pack("<H", len(items)) + b"".join(transfer(to, a) for to, a in items)


def stake(hotkey, amount: int) -> bytes:
    """The payload of stake_add and of stake_remove."""
    return transfer(hotkey, amount)


def weights_vectors(netuid: int, version_key: int, uids: Sequence[int], weights: Sequence[int]) -> bytes:
    if len(uids) != len(weights):
        raise ValueError("as many weights as uids")
    return (struct.pack("<H", netuid) + _u64(version_key) + struct.pack("<H", len(uids)) + struct.pack(f"<{len(uids)}H", *uids)
            + struct.pack("<H", len(weights)) + struct.pack(f"<{len(weights)}H", *weights))


def set_weights(netuid: int, uids: Sequence[int], weights: Sequence[int], version_key: int = 0) -> bytes:
    return weights_vectors(netuid, version_key, uids, weights)


def weights_commit(hotkey, netuid: int, uids: Sequence[int], weights: Sequence[int], salt: bytes, version_key: int = 0) -> bytes:
    """BLAKE2b-256("agora/wcommit", hotkey ‖ netuid ‖ version_key ‖ n ‖ uids ‖ n ‖ weights ‖ salt)."""
    if len(salt) != 32:
        raise ValueError("a salt is 32 bytes")
    return blake2b("agora/wcommit", _pk(hotkey) + weights_vectors(netuid, version_key, uids, weights) + salt)


def commit_weights(netuid: int, commit: bytes) -> bytes:
    return struct.pack("<H", netuid) + commit


def reveal_weights(netuid: int, uids: Sequence[int], weights: Sequence[int], salt: bytes, version_key: int = 0) -> bytes:
    return weights_vectors(netuid, version_key, uids, weights) + salt


def hotkey_claim(chain_id: str, coldkey, hotkey) -> bytes:
    cid = chain_id.encode()
    return blake2b("agora/hkclaim", bytes([len(cid)]) + cid + _pk(coldkey) + _pk(hotkey))


def register(chain_id: str, netuid: int, coldkey, hotkey: Keypair, max_cost: int) -> bytes:
    """A registration of hotkey by coldkey, carrying the hotkey's signature over its claim."""
    sig = hotkey.sign(hotkey_claim(chain_id, coldkey, hotkey.public_key))
    return struct.pack("<H", netuid) + hotkey.public_key + _u64(max_cost) + sig


def validator_bond_claim(chain_id: str, owner, consensus_key) -> bytes:
    """What a consensus key signs to let owner bond it."""
    cid = chain_id.encode()
    return blake2b("agora/vbond", bytes([len(cid)]) + cid + _pk(owner) + _pk(consensus_key))


def validator_bond(chain_id: str, owner, consensus: Keypair, amount: int) -> bytes:
    """A bond of amount base units from owner (the tx's sender) to a CometBFT consensus key,
    signed by that key (its priv_validator_key.json: Keypair.from_seed of the first 32 bytes)."""
    sig = consensus.sign(validator_bond_claim(chain_id, owner, consensus.public_key))
    return consensus.public_key + _u64(amount) + sig


def validator_unbond(consensus_key, amount: int) -> bytes:
    return _pk(consensus_key) + _u64(amount)


def parse_amount(s: str) -> int:
    """'12.5' AGR as base units, exactly (at most 9 decimals)."""
    whole, _, frac = s.strip().partition(".")
    if not whole.isdigit() or (frac and (not frac.isdigit() or len(frac) > 9)):
        raise ValueError(f"{s!r} is not an amount of AGR")
    return int(whole) * AGR + int(frac.ljust(9, "0") or 0)


__all__: List[str] = ["AGR", "Tx", "blake2b", "build", "decode", "unsigned", "size", "min_fee", "fee_units", "transfer", "multi_transfer",
                      "stake", "set_weights", "weights_commit", "commit_weights", "reveal_weights", "register", "parse_amount",
                      "TRANSFER", "MULTI_TRANSFER", "STAKE_ADD", "STAKE_REMOVE", "REGISTER", "SET_WEIGHTS", "COMMIT_WEIGHTS",
                      "REVEAL_WEIGHTS"]
