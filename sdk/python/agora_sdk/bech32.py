"""Bech32m (BIP-350) for Agora addresses (prefix ``agora``) and key backups (``agorasecret``).

docs/encoding.md "Keys and addresses": an address is the 32-byte ed25519 public key under
``agora``, 64 characters, lower case; upper case is accepted, mixed case is not."""
from __future__ import annotations

from typing import List, Optional, Tuple

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32M = 0x2BC830A3


class AddressError(ValueError):
    """A string that is not a valid address (the node's ``bad_address``/``address_checksum``)."""


def _polymod(values: List[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> List[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert(data: bytes, frm: int, to: int, pad: bool) -> Optional[List[int]]:
    acc = bits = 0
    out: List[int] = []
    maxv = (1 << to) - 1
    for b in data:
        acc = (acc << frm) | b
        bits += frm
        while bits >= to:
            bits -= to
            out.append((acc >> bits) & maxv)
    if pad and bits:
        out.append((acc << (to - bits)) & maxv)
    elif not pad and (bits >= frm or (acc << (to - bits)) & maxv):
        return None
    return out


def encode(hrp: str, data: bytes) -> str:
    d = _convert(data, 8, 5, True) or []
    poly = _polymod(_hrp_expand(hrp) + d + [0] * 6) ^ _BECH32M
    return hrp + "1" + "".join(CHARSET[x] for x in d + [(poly >> 5 * (5 - i)) & 31 for i in range(6)])


def decode(hrp: str, s: str) -> bytes:
    if s.lower() != s and s.upper() != s:
        raise AddressError("mixed case")
    s = s.lower()
    pos = s.rfind("1")
    if pos < 1 or s[:pos] != hrp or len(s) - pos - 1 < 6:
        raise AddressError(f"not an {hrp} string")
    try:
        d = [CHARSET.index(c) for c in s[pos + 1 :]]
    except ValueError:
        raise AddressError("a character outside the Bech32 alphabet") from None
    if _polymod(_hrp_expand(hrp) + d) != _BECH32M:
        raise AddressError("checksum mismatch (a typo?)")
    out = _convert(bytes(d[:-6]), 5, 8, False)
    if out is None:
        raise AddressError("bad padding")
    return bytes(out)


def address(pk: bytes) -> str:
    """The address of a 32-byte public key."""
    if len(pk) != 32:
        raise ValueError("a public key is 32 bytes")
    return encode("agora", pk)


def public_key(addr: str) -> bytes:
    """The 32-byte public key an address names (AddressError otherwise)."""
    pk = decode("agora", addr)
    if len(pk) != 32:
        raise AddressError("an address holds 32 bytes")
    return pk


def split(addr: str) -> Tuple[str, bytes]:
    pos = addr.rfind("1")
    return addr[:pos], decode(addr[:pos].lower(), addr)
