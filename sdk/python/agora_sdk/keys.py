"""ed25519 keys and the encrypted keystore, compatible with the C CLI's files
(docs/formats.md "Keystore": format ``agora-key/1``, Argon2id + XChaCha20-Poly1305 with the
address as associated data; dev keys in clear with ``insecure_chain_id``)."""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from typing import Optional

import nacl.bindings as sodium
import nacl.pwhash
import nacl.signing

from .bech32 import address, decode, encode

OPSLIMIT = 3
MEMLIMIT = 64 << 20
NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class KeystoreError(ValueError):
    """A keystore file that cannot be used; ``code`` is the node's error name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class Keypair:
    seed: bytes  # 32 bytes
    public_key: bytes  # 32 bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> "Keypair":
        if len(seed) != 32:
            raise ValueError("a seed is 32 bytes")
        return cls(seed, bytes(nacl.signing.SigningKey(seed).verify_key))

    @classmethod
    def generate(cls) -> "Keypair":
        return cls.from_seed(os.urandom(32))

    @property
    def address(self) -> str:
        return address(self.public_key)

    def sign(self, message: bytes) -> bytes:
        """A 64-byte ed25519 signature (RFC 8032, deterministic)."""
        return nacl.signing.SigningKey(self.seed).sign(message).signature

    def backup(self) -> str:
        """The seed as ``agorasecret1…`` (Bech32m, typo-checked)."""
        return encode("agorasecret", self.seed)

    @classmethod
    def from_backup(cls, s: str) -> "Keypair":
        return cls.from_seed(decode("agorasecret", s))


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
        return True
    except Exception:
        return False


def _kdf(passphrase: bytes, salt: bytes, ops: int, mem: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(32, passphrase, salt, opslimit=ops, memlimit=mem)


def save_keystore(path: str, name: str, kp: Keypair, passphrase: Optional[str], insecure_chain_id: Optional[str] = None) -> None:
    """Writes kp to path (mode 0600) as the C CLI does: sealed under the passphrase, or, for a
    devnet key, in clear and bound to insecure_chain_id."""
    if not NAME_RE.match(name):
        raise KeystoreError("bad_key_name", "key names are 1..64 of [A-Za-z0-9._-]")
    doc = {"format": "agora-key/1", "name": name, "address": kp.address, "created_ms": int(time.time() * 1000)}
    if insecure_chain_id is not None:
        doc["crypto"] = {"kdf": "none", "seed": kp.seed.hex()}
        doc["insecure_chain_id"] = insecure_chain_id
    else:
        if not passphrase:
            raise KeystoreError("passphrase_required", "a passphrase is needed")
        salt, nonce = os.urandom(16), os.urandom(24)
        key = _kdf(passphrase.encode(), salt, OPSLIMIT, MEMLIMIT)
        ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(kp.seed, kp.address.encode(), nonce, key)
        doc["crypto"] = {"kdf": "argon2id", "opslimit": OPSLIMIT, "memlimit": MEMLIMIT, "salt": salt.hex(),
                         "cipher": "xchacha20poly1305", "nonce": nonce.hex(), "ciphertext": ct.hex()}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


def load_keystore(path: str, passphrase: Optional[str] = None, chain_id: Optional[str] = None) -> Keypair:
    """Reads a keystore file written by the C CLI or by save_keystore. The same refusals as
    the CLI: keystore_corrupt, keystore_weak_kdf (a cost below Agora's or above libsodium's
    sensitive level), bad_passphrase (wrong passphrase or altered file), insecure_key (a dev
    key used for another chain)."""
    try:
        with open(path) as f:
            doc = json.load(f)
        if doc.get("format") != "agora-key/1":
            raise KeystoreError("keystore_corrupt", "not an agora-key/1 file")
        addr = doc["address"]
        c = doc["crypto"]
        kdf = c.get("kdf")
    except (OSError, ValueError, KeyError, TypeError) as e:
        if isinstance(e, KeystoreError):
            raise
        raise KeystoreError("keystore_corrupt", str(e)) from None
    if kdf == "none":
        ins = doc.get("insecure_chain_id")
        if chain_id is not None and ins != chain_id:
            raise KeystoreError("insecure_key", f"a dev key for chain {ins!r} is not used on {chain_id!r}")
        kp = Keypair.from_seed(bytes.fromhex(c["seed"]))
    elif kdf == "argon2id":
        ops, mem = c.get("opslimit"), c.get("memlimit")
        if not isinstance(ops, int) or not isinstance(mem, int):
            raise KeystoreError("keystore_corrupt", "opslimit and memlimit are integers")
        if ops < OPSLIMIT or mem < MEMLIMIT or ops > 8 or mem > (1 << 30) or ops * mem > (4 << 30):
            raise KeystoreError("keystore_weak_kdf", f"refusing Argon2id cost opslimit={ops} memlimit={mem}")
        if passphrase is None:
            raise KeystoreError("passphrase_required", "this key is encrypted")
        try:
            salt, nonce, ct = bytes.fromhex(c["salt"]), bytes.fromhex(c["nonce"]), bytes.fromhex(c["ciphertext"])
        except (KeyError, ValueError):
            raise KeystoreError("keystore_corrupt", "salt, nonce and ciphertext are hex") from None
        if len(salt) != 16 or len(nonce) != 24 or len(ct) != 48:
            raise KeystoreError("keystore_corrupt", "wrong field sizes")
        key = _kdf(passphrase.encode(), salt, ops, mem)
        try:
            seed = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ct, addr.encode(), nonce, key)
        except Exception:
            raise KeystoreError("bad_passphrase", "wrong passphrase, or the file was altered") from None
        kp = Keypair.from_seed(seed)
    else:
        raise KeystoreError("keystore_weak_kdf", f"unknown kdf {kdf!r}")
    if kp.address != addr:
        raise KeystoreError("keystore_corrupt", "the key does not match the address")
    return kp
