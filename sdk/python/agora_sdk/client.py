"""The node's JSON API (docs/api.md, described at /openapi.json): a method per route, a
synchronous Client on the standard library and an AsyncClient for asyncio, with block
subscriptions over the node's Server-Sent Events."""
from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, AsyncIterator, Dict, Iterator, List, Optional, Union

from . import tx as txm
from .keys import Keypair

Json = Dict[str, Any]


class ApiError(Exception):
    """An error answer: HTTP status, the stable code (docs/errors.md) and the message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def _q(**params: Any) -> str:
    kv = {k: ("true" if v is True else "false" if v is False else v) for k, v in params.items() if v is not None}
    return "?" + urllib.parse.urlencode(kv) if kv else ""


class Client:
    """A node's API: ``Client("http://127.0.0.1:8740")``."""

    def __init__(self, url: str = "http://127.0.0.1:8740", timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    # ---- transport ----
    def _raw(self, method: str, path: str, body: Optional[bytes] = None, ctype: str = "application/json") -> bytes:
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            data = e.read()
            try:
                err = json.loads(data)["error"]
                raise ApiError(e.code, err.get("code") or "error", err.get("message") or "") from None
            except (ValueError, KeyError, TypeError):
                raise ApiError(e.code, "http_error", data[:200].decode(errors="replace")) from None

    def _get(self, path: str) -> Json:
        return json.loads(self._raw("GET", path))

    # ---- node ----
    def health(self) -> Json: return self._get("/health")
    def openapi(self) -> Json: return self._get("/openapi.json")
    def status(self) -> Json: return self._get("/v1/status")
    def validators(self) -> Json:
        """The consensus validator set (CometBFT chains; empty on a solo chain)."""
        return self._get("/v1/validators")
    def metrics(self) -> str: return self._raw("GET", "/metrics").decode()

    def submit(self, tx_bytes: bytes) -> Json:
        """Submits signed tx bytes; {"hash", "status": "pending"} or ApiError."""
        return json.loads(self._raw("POST", "/v1/txs", tx_bytes, "application/octet-stream"))

    def relay(self, txs: List[bytes]) -> Json:
        """Relays signed txs as another node of the network would (POST /v1/txs/relay, nodes
        with their own mempools): {"accepted", "refused"}; they are not relayed further."""
        body = b"".join(len(t).to_bytes(4, "little") + t for t in txs)
        return json.loads(self._raw("POST", "/v1/txs/relay", body, "application/octet-stream"))

    def simulate(self, txs: List[bytes]) -> Json:
        return json.loads(self._raw("POST", "/v1/simulate", json.dumps({"txs": [t.hex() for t in txs]}).encode()))

    def tx(self, hash: str) -> Json: return self._get("/v1/txs/" + hash)
    def account(self, address: str, prove: bool = False) -> Json: return self._get(f"/v1/accounts/{address}" + _q(prove=prove or None))
    def account_txs(self, address: str, limit: Optional[int] = None, before: Optional[str] = None) -> Json:
        return self._get(f"/v1/accounts/{address}/txs" + _q(limit=limit, before=before))
    def block(self, height: Union[int, str] = "latest", txs: bool = True) -> Json: return self._get(f"/v1/blocks/{height}" + _q(txs=None if txs else False))
    def header(self, height: Union[int, str] = "latest") -> Json: return self._get(f"/v1/headers/{height}")

    # ---- incentive and training ----
    def subnets(self) -> Json: return self._get("/v1/subnets")
    def subnet(self, netuid: int) -> Json: return self._get(f"/v1/subnets/{netuid}")
    def metagraph(self, netuid: int, bonds: bool = False, weights: bool = False) -> Json:
        return self._get(f"/v1/subnets/{netuid}/metagraph" + _q(bonds=bonds or None, weights=weights or None))
    def epochs(self, netuid: int, limit: Optional[int] = None, before: Optional[int] = None) -> Json:
        return self._get(f"/v1/subnets/{netuid}/epochs" + _q(limit=limit, before=before))
    def training(self, netuid: int, rounds: Optional[int] = None) -> Json: return self._get(f"/v1/subnets/{netuid}/training" + _q(rounds=rounds))
    def hotkey(self, address: str) -> Json: return self._get(f"/v1/hotkeys/{address}")
    def stake(self, coldkey: str) -> Json: return self._get(f"/v1/stake/{coldkey}")
    def incentive(self) -> Json: return self._get("/v1/incentive")
    def model_shares(self, model_id: str) -> Json: return self._get(f"/v1/model-shares/{model_id}")

    # ---- economy ----
    def channel(self, id: str) -> Json: return self._get(f"/v1/channels/{id}")
    def economy(self) -> Json: return self._get("/v1/economy")
    def offers(self, model_id: str) -> Json: return self._get("/v1/offers" + _q(model=model_id))
    def asset(self, id: str) -> Json: return self._get(f"/v1/assets/{id}")
    def bond(self, hotkey: str) -> Json: return self._get(f"/v1/bonds/{hotkey}")
    def disputes(self, member: Optional[str] = None, limit: Optional[int] = None, offset: Optional[int] = None) -> Json:
        return self._get("/v1/disputes" + _q(member=member, limit=limit, offset=offset))
    def dispute(self, id: str) -> Json: return self._get(f"/v1/disputes/{id}")
    def agents(self, account: str) -> Json: return self._get(f"/v1/agents/{account}")

    # ---- files ----
    def model_file(self, model_id: str) -> bytes: return self._raw("GET", f"/v1/model-files/{model_id}")
    def upload_model_file(self, model_id: str, data: bytes) -> Json:
        return json.loads(self._raw("POST", f"/v1/model-files/{model_id}", data, "application/octet-stream"))
    def blob(self, hash: str) -> bytes: return self._raw("GET", f"/v1/blobs/{hash}")
    def upload_blob(self, hash: str, data: bytes) -> Json:
        return json.loads(self._raw("POST", f"/v1/blobs/{hash}", data, "application/octet-stream"))

    # ---- conveniences ----
    def blocks(self, start: Optional[int] = None) -> Iterator[Json]:
        """Committed blocks as they come (the SSE stream), from start or after the current one;
        a reconnect resumes after the last block seen, so none is missed."""
        last = None if start is None else start - 1
        while True:
            req = urllib.request.Request(self.url + "/v1/events/blocks" + _q(**({"from": last + 1} if last is not None else {})))
            try:
                with urllib.request.urlopen(req, timeout=max(self.timeout, 30.0)) as r:
                    event, data = None, []
                    for line in r:
                        line = line.decode().rstrip("\r\n")
                        if not line:
                            if event == "block" and data:
                                b = json.loads("\n".join(data))
                                last = b["height"]
                                yield b
                            event, data = None, []
                        elif line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:"):
                            data.append(line[5:].lstrip())
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                continue

    def epoch_stream(self, netuid: int) -> Iterator[Json]:
        """Each epoch of a subnet as it ends: its metagraph as the epoch left it (the history
        record of GET /v1/subnets/{netuid}/epochs), driven by the block stream."""
        seen = self.subnet(netuid)["epoch"]  # epochs before this one have ended already
        for _ in self.blocks():
            now = self.subnet(netuid)["epoch"]
            for e in range(seen, now):  # the epoch counter moved past e: its record exists
                page = self.epochs(netuid, limit=1, before=e + 1)["epochs"]
                if page and page[0]["epoch"] == e:
                    yield page[0]
            seen = max(seen, now)

    def send(self, key: Keypair, kind: int, payload: bytes, fee: Optional[int] = None, nonce: Optional[int] = None,
             valid_until: int = 0) -> Json:
        """Signs a tx of kind with key at its pending nonce and the least fee, and submits it."""
        st = self.status()
        if nonce is None:
            nonce = self.account(key.address)["pending_nonce"]
        if fee is None:
            fee = txm.min_fee(st["params"], st["chain_id"], len(payload), txm.fee_units(kind, payload))
        return self.submit(txm.build(kind, st["chain_id"], key, nonce, fee, payload, valid_until))

    def wait(self, hash: str, timeout: float = 60.0) -> Json:
        """The tx once committed (ApiError if it is neither committed nor pending)."""
        import time
        end = time.monotonic() + timeout
        while True:
            t = self.tx(hash)
            if t["status"] == "committed":
                return t
            if time.monotonic() > end:
                raise TimeoutError(f"{hash} still pending after {timeout} s")
            time.sleep(0.1)


class AsyncClient:
    """The same methods as Client, as coroutines (each call runs the synchronous one in a worker
    thread, so an event loop never blocks on the network); blocks() is an async iterator."""

    def __init__(self, url: str = "http://127.0.0.1:8740", timeout: float = 30.0) -> None:
        self.sync = Client(url, timeout)

    def __getattr__(self, name: str):
        fn = getattr(self.sync, name)
        if not callable(fn):
            return fn

        async def call(*a: Any, **k: Any) -> Any:
            return await asyncio.to_thread(fn, *a, **k)
        return call

    async def blocks(self, start: Optional[int] = None) -> AsyncIterator[Json]:
        it = self.sync.blocks(start)
        while True:
            yield await asyncio.to_thread(next, it)

    async def epoch_stream(self, netuid: int) -> AsyncIterator[Json]:
        it = self.sync.epoch_stream(netuid)
        while True:
            yield await asyncio.to_thread(next, it)
