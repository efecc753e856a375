"""Paying for answers (docs/economy.md): the payloads of the economy's transactions, channel
ids, vouchers, payment receipts, and a client for a miner's OpenAI-compatible API that pays
through a payment channel and checks every receipt before its book takes the new total.

A channel in three calls::

    ch = Channel.open(client, payer, provider_hotkey, model_id, deposit=1 * tx.AGR)
    miner = MinerClient(miner_url, provider_hotkey)
    answer = miner.completion({"model": name, "prompt": "Hello", "max_tokens": 16}, ch)

The client side keeps what `agora infer --pay-from` keeps (docs/economy.md "The client's
book"): the channel's deposit, what the provider billed, the highest amount signed and the last
sequence. Keep them (``Channel.to_json``) across restarts: a voucher is never signed for less
than one already given, so losing the book costs at most one request's allowance.
"""
from __future__ import annotations

import json
import struct
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Tuple

from .bech32 import address
from .keys import Keypair, verify
from .tx import _pk, _u64, blake2b

CHANNEL_OPEN, CHANNEL_FUND, CHANNEL_CLAIM, CHANNEL_CLOSE = 30, 31, 32, 33
CHANNEL_CLAIMS = 49
CLAIMS_MAX = 256
OFFER_POST, OFFER_REMOVE, BOND_UNBOND, BOND_WITHDRAW = 34, 35, 36, 37
ASSET_REGISTER, ASSET_ROYALTY, SHARE_TRANSFER, SHARE_CLAIM = 38, 39, 40, 41

VOUCHER_VERSION = 1
VOUCHER_HEADER = "X-Agora-Voucher"


def _id(x) -> bytes:
    """A 32-byte id (channel, model, asset) from bytes or hex."""
    b = bytes.fromhex(x) if isinstance(x, str) else bytes(x)
    if len(b) != 32:
        raise ValueError("an id is 32 bytes (64 hex digits)")
    return b


# ---- payloads ------------------------------------------------------------------------------

def channel_open(provider, model, deposit: int, settle_delay: int = 600, expiry: int = 0, signer=None) -> bytes:
    """tx 30: a channel to provider (a miner's hotkey) paying for model; signer (default: the
    sender) is the key that will sign vouchers."""
    return (_pk(provider) + (_pk(signer) if signer is not None else bytes(32)) + _id(model) + _u64(deposit) +
            _u64(settle_delay) + _u64(expiry))


def channel_fund(channel, amount: int) -> bytes:
    """tx 31: a top-up."""
    return _id(channel) + _u64(amount)


def channel_claim(voucher: bytes, amount: int = 0, close: bool = False) -> bytes:
    """tx 32 (the provider): the channel's new total paid under voucher (0: all it covers)."""
    return bytes([1 if close else 0]) + _u64(amount) + bytes(voucher)


def channel_claims(claims) -> bytes:
    """tx 49 (the provider): up to 256 claims in one tx, all or none; claims are voucher bytes or
    (voucher, amount, close) tuples. It pays a base fee per claim."""
    out = []
    for c in claims:
        out.append(channel_claim(*c) if isinstance(c, tuple) else channel_claim(c))
    if not 1 <= len(out) <= CLAIMS_MAX:
        raise ValueError(f"a channel_claims holds 1..{CLAIMS_MAX} claims")
    return struct.pack("<H", len(out)) + b"".join(out)


def channel_close(channel) -> bytes:
    """tx 33: the client asks to close (the rest returns after the settle delay); the provider
    closes at once."""
    return _id(channel)


def offer_post(hotkey, model, price_in_per_1k: int, price_out_per_1k: int, max_tokens: int, bond: int) -> bytes:
    """tx 34 (the hotkey's coldkey): serve model at these prices, bond locked."""
    return (_pk(hotkey) + _id(model) + _u64(price_in_per_1k) + _u64(price_out_per_1k) +
            struct.pack("<I", max_tokens) + _u64(bond))


def offer_remove(hotkey, model) -> bytes:
    return _pk(hotkey) + _id(model)


def bond_unbond(hotkey, amount: int) -> bytes:
    return _pk(hotkey) + _u64(amount)


def bond_withdraw(hotkey) -> bytes:
    return _pk(hotkey)


def share_transfer(asset, to, amount: int) -> bytes:
    return _id(asset) + _pk(to) + _u64(amount)


def share_claim(asset, holder) -> bytes:
    """tx 41: pays holder's share of the asset's vault income to holder."""
    return _id(asset) + _pk(holder)


# ---- ids, vouchers, receipts ---------------------------------------------------------------

def channel_id(chain_id: str, client, nonce: int) -> bytes:
    """The id of the channel client opens with the tx of this nonce (known before sending)."""
    c = chain_id.encode()
    return blake2b("agora/channel", bytes([len(c)]) + c + _pk(client) + _u64(nonce))


def voucher(chain_id: str, channel, cumulative: int, seq: int, signer: Keypair) -> bytes:
    """A voucher for the channel's total paid so far (not this request's price)."""
    c = chain_id.encode()
    body = bytes([VOUCHER_VERSION, len(c)]) + c + _id(channel) + _u64(cumulative) + _u64(seq)
    return body + signer.sign(blake2b("agora/voucher", body))


def request_hash(body: bytes) -> bytes:
    """What receipts name a request by: BLAKE2b-256("agora/infreq", the body as sent)."""
    return blake2b("agora/infreq", body)


def offer_cost(price_in_per_1k: int, price_out_per_1k: int, n_in: int, n_out: int) -> int:
    """A request's cost at an offer's prices: each part rounded up to a base unit."""
    return -(-n_in * price_in_per_1k // 1000) + -(-n_out * price_out_per_1k // 1000)


def verify_payment(hotkey, body: bytes, payment: Dict[str, Any]) -> bool:
    """Whether payment (an answer's "agora"."payment") is signed by hotkey for this request and
    adds up: cost at its prices for its tokens, and billed within the voucher."""
    try:
        n = [int(payment[k]) for k in ("seq", "cumulative", "prompt_tokens", "completion_tokens", "price_in_per_1k",
                                       "price_out_per_1k", "cost", "billed", "height")]
        msg = blake2b("agora/infpay", _pk(hotkey) + request_hash(body) + _id(payment["channel"]) +
                      b"".join(_u64(v) for v in n))
        sig = bytes.fromhex(payment["signature"])
    except (KeyError, TypeError, ValueError):
        return False
    return (verify(_pk(hotkey), msg, sig) and n[6] == offer_cost(n[4], n[5], n[2], n[3]) and n[7] <= n[1])


# ---- the client's book and a paying client for a miner -------------------------------------

class PaymentRequired(Exception):
    """A miner refused with 402: code says why (payment_required, payment_insufficient, or a
    voucher or channel code); price is what it said (prices, this request's most, the total a
    voucher must reach)."""

    def __init__(self, code: str, message: str, price: Dict[str, Any]) -> None:
        super().__init__(f"402 {code}: {message}")
        self.code, self.message, self.price = code, message, price


class ReceiptError(Exception):
    """An answer whose payment receipt does not hold: not signed by the provider, not for this
    request or voucher, or billing more than the voucher allowed."""


@dataclass
class Channel:
    """The client's book of one channel."""
    chain_id: str
    id: str
    provider: str      # the miner's hotkey (an address)
    deposit: int
    billed: int = 0    # what the provider's receipts say it billed so far
    signed: int = 0    # the highest cumulative amount a voucher was signed for
    seq: int = 0       # the last voucher's sequence

    @classmethod
    def open(cls, client, payer: Keypair, provider, model, deposit: int, settle_delay: int = 600,
             timeout: float = 60.0) -> "Channel":
        """Opens a channel from payer (tx 30), waits until it is committed, returns its book."""
        st = client.status()
        nonce = client.account(payer.address)["pending_nonce"]
        cid = channel_id(st["chain_id"], payer.public_key, nonce).hex()
        r = client.send(payer, CHANNEL_OPEN, channel_open(provider, model, deposit, settle_delay), nonce=nonce)
        done = client.wait(r["hash"], timeout)
        if done["result"]["code"] != "ok":
            raise RuntimeError(f"channel_open failed: {done['result']}")
        return cls(st["chain_id"], cid, address(_pk(provider)), deposit)

    def voucher_for(self, cumulative: int, signer: Keypair) -> bytes:
        """The next voucher, for at least what was signed before (never less: a provider may
        hold the higher one)."""
        if cumulative > self.deposit:
            raise ValueError(f"{cumulative} is above the channel's deposit {self.deposit}: top it up (channel_fund)")
        self.signed = max(self.signed, cumulative)
        self.seq += 1
        return voucher(self.chain_id, self.id, self.signed, self.seq, signer)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, s: str) -> "Channel":
        return cls(**json.loads(s))


class MinerClient:
    """A miner's OpenAI-compatible API (docs/subnet-inference.md, docs/economy.md "Paid
    requests"): free requests, or paid through a Channel with each receipt checked."""

    def __init__(self, url: str, hotkey, timeout: float = 120.0, api_key: Optional[str] = None) -> None:
        self.url, self.hotkey, self.timeout, self.api_key = url.rstrip("/"), _pk(hotkey), timeout, api_key

    def _post(self, path: str, body: bytes, headers: Dict[str, str]) -> Tuple[int, Dict[str, Any]]:
        h = {"Content-Type": "application/json", **headers}
        if self.api_key:
            h["Authorization"] = "Bearer " + self.api_key
        req = urllib.request.Request(self.url + path, data=body, method="POST", headers=h)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def models(self) -> Dict[str, Any]:
        with urllib.request.urlopen(self.url + "/v1/models", timeout=self.timeout) as r:
            return json.load(r)

    def completion(self, request: Dict[str, Any], channel: Optional[Channel] = None, signer: Optional[Keypair] = None,
                   path: str = "/v1/completions") -> Dict[str, Any]:
        """POSTs request (not streamed). With a channel, pays: a voucher for what the book says
        was signed; on a 402 naming a higher total (this request's most), once more with a voucher
        for that total, if the deposit covers it. The answer's receipt must be the provider's,
        for this request and voucher, and bill at most what the voucher allowed; only then does
        the book take its total. Without a channel a charging miner raises PaymentRequired."""
        body = json.dumps(request).encode()
        if channel is None:
            status, r = self._post(path, body, {})
            return self._answer(status, r)
        if signer is None:
            raise ValueError("a paid request needs the channel's signer")
        status, r = 402, {}
        for attempt in range(2):
            want = channel.signed
            if attempt:  # the 402 says what this request needs the voucher to reach
                need = int(((r.get("error") or {}).get("price") or {}).get("needed_cumulative", 0))
                if need <= channel.signed:  # refused for another reason than the amount
                    break
                want = need
            v = channel.voucher_for(max(want, channel.billed), signer)
            status, r = self._post(path, body, {VOUCHER_HEADER: v.hex()})
            if status != 402:
                break
        answer = self._answer(status, r)
        pay = (answer.get("agora") or {}).get("payment")
        if pay is None:
            raise ReceiptError("a paid answer without a payment receipt")
        if not verify_payment(self.hotkey, body, pay):
            raise ReceiptError("the payment receipt is not the provider's, or does not add up")
        if pay["channel"] != channel.id or int(pay["seq"]) != channel.seq or int(pay["cumulative"]) != channel.signed:
            raise ReceiptError("the payment receipt names another channel or voucher")
        if int(pay["billed"]) != channel.billed + int(pay["cost"]):
            raise ReceiptError(f"billed {pay['billed']} is not the book's {channel.billed} plus this request's cost")
        channel.billed = int(pay["billed"])
        return answer

    def chat(self, request: Dict[str, Any], channel: Optional[Channel] = None,
             signer: Optional[Keypair] = None) -> Dict[str, Any]:
        return self.completion(request, channel, signer, path="/v1/chat/completions")

    @staticmethod
    def _answer(status: int, r: Dict[str, Any]) -> Dict[str, Any]:
        if status == 402:
            e = r.get("error") or {}
            raise PaymentRequired(e.get("code", ""), e.get("message", ""), e.get("price") or {})
        if status != 200:
            e = r.get("error") or {}
            raise RuntimeError(f"HTTP {status}: {e.get('message', r)}")
        return r
