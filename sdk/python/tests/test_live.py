"""Against a live devnet (tests/sdk.sh starts one): the client on real routes, keystores
written by the C CLI and read here and the reverse, and txs signed here accepted and committed
by the node."""
import asyncio
import json
import os
import subprocess

import pytest

from agora_sdk import (ApiError, AsyncClient, Channel, Client, Keypair, MinerClient, PaymentRequired, economy, load_keystore,
                       save_keystore, tx)

API = os.environ.get("AGORA_API")
HOME = os.environ.get("AGORA_DEVNET_HOME")
BIN = os.environ.get("AGORA_BIN")
PASS = os.environ.get("AGORA_PASSPHRASE", "")
pytestmark = pytest.mark.skipif(not (API and HOME and BIN), reason="needs a devnet (tests/sdk.sh)")


def cli(*args: str, home: str = None) -> str:
    env = dict(os.environ, AGORA_PASSPHRASE=PASS)
    r = subprocess.run([BIN, "--home", home or HOME, "--node", API, *args], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def owner() -> Keypair:
    return load_keystore(os.path.join(HOME, "keys", "owner.json"), PASS, chain_id="agora-devnet")


def test_every_read_route_answers():
    c = Client(API)
    st = c.status()
    assert st["chain_id"] == "agora-devnet" and c.health()["status"] == "ok"
    vs = c.validators()
    assert vs["consensus"] == "solo" and vs["validators"] == [] and vs["total_power"] == 0
    assert c.openapi()["openapi"] == "3.1.0"
    assert c.block(1)["height"] == 1 and c.header("latest")["height"] >= 1
    subs = c.subnets()["subnets"]
    assert subs and c.subnet(1)["netuid"] == 1
    mg = c.metagraph(1, bonds=True, weights=True)
    assert len(mg["uids"]) == mg["neurons"]
    hot = mg["uids"][0]["hotkey"]
    assert c.hotkey(hot)["hotkey"] == hot
    assert "epochs" in c.epochs(1, limit=2)
    assert c.incentive()["height"] >= 1 and c.economy()["height"] >= 1
    model = c.subnet(1)["model"]["model_id"]
    assert c.offers(model)["offers"] and c.asset(model)["id"] == model
    assert c.bond(c.offers(model)["offers"][0]["provider"])["bonded"]
    d = c.disputes(limit=5)
    assert len(d["disputes"]) <= 5
    assert d["total"] >= len(d["disputes"]) and ("next" in d)
    assert c.agents(owner().address)["keys"] == []
    assert "agora_" in c.metrics()
    with pytest.raises(ApiError) as e:
        c.tx("00" * 32)
    assert e.value.status == 404 and e.value.code == "not_found"
    with pytest.raises(ApiError) as e:
        c.account("agora1notanaddress")
    assert e.value.status == 400


def test_a_c_keystore_reads_here_and_a_python_one_reads_in_c(tmp_path):
    home = str(tmp_path / "wallet")
    cli("wallet", "new", "fromc", home=home)
    c_file = os.path.join(home, "keys", "fromc.json")
    kp = load_keystore(c_file, PASS)
    assert kp.address == json.load(open(c_file))["address"]
    assert cli("wallet", "export", "fromc", home=home).strip() == kp.backup()
    mine = Keypair.generate()
    save_keystore(os.path.join(home, "keys", "frompy.json"), "frompy", mine, PASS)
    assert cli("wallet", "show", "frompy", "-a", home=home).strip() == mine.address
    assert cli("wallet", "export", "frompy", home=home).strip() == mine.backup()


def test_a_transfer_signed_here_is_committed_and_in_both_histories():
    c = Client(API)
    me, to = owner(), Keypair.generate()
    # the sender is a fresh account: the owner's own balance also grows by emission while the
    # test runs, so a balance check on it could not tell a debit from a reward
    mid = Keypair.generate()
    assert c.wait(c.send(me, tx.TRANSFER, tx.transfer(mid.address, 10 * tx.AGR))["hash"])["result"]["code"] == "ok"
    r = c.send(mid, tx.TRANSFER, tx.transfer(to.address, 3 * tx.AGR))
    assert r["status"] == "pending"
    done = c.wait(r["hash"])
    assert done["result"]["code"] == "ok" and done["tx"]["kind"] == "transfer"
    assert int(c.account(to.address)["balance"]) == 3 * tx.AGR
    left = int(c.account(mid.address)["balance"])
    assert 7 * tx.AGR - tx.AGR // 10 < left < 7 * tx.AGR  # the 3 AGR and a fee (well under 0.1 AGR)
    for who, sent in ((mid.address, True), (to.address, False)):
        h = c.account_txs(who, limit=5)["txs"]
        assert h[0]["hash"] == r["hash"] and h[0]["sent"] is sent
    # a multi-transfer, and a replay of the same bytes refused
    st = c.status()
    n = c.account(me.address)["pending_nonce"]
    pay = tx.multi_transfer([(to.address, 1), (Keypair.generate().address, 2)])
    raw = tx.build(tx.MULTI_TRANSFER, st["chain_id"], me, n, tx.min_fee(st["params"], st["chain_id"], len(pay)), pay)
    h2 = c.submit(raw)["hash"]
    assert h2 == tx.decode(raw).hash
    with pytest.raises(ApiError) as e:
        c.submit(raw)
    assert e.value.status in (400, 409)
    assert c.wait(h2)["result"]["code"] == "ok"


def test_a_bad_signature_is_refused():
    c = Client(API)
    st = c.status()
    me = owner()
    raw = bytearray(tx.build(tx.TRANSFER, st["chain_id"], me, c.account(me.address)["pending_nonce"], 10**6,
                             tx.transfer(Keypair.generate().address, 1)))
    raw[-1] ^= 1
    with pytest.raises(ApiError) as e:
        c.submit(bytes(raw))
    assert e.value.code == "bad_signature"


def test_a_solo_node_takes_no_relayed_txs():
    c = Client(API)
    st = c.status()
    me = owner()
    raw = tx.build(tx.TRANSFER, st["chain_id"], me, c.account(me.address)["pending_nonce"], 10**6,
                   tx.transfer(Keypair.generate().address, 1))
    with pytest.raises(ApiError) as e:
        c.relay([raw])
    assert e.value.status == 400 and e.value.code == "unsupported"
    with pytest.raises(ApiError) as e:
        c.tx(tx.decode(raw).hash)
    assert e.value.status == 404


def test_async_client_and_block_subscription():
    async def run():
        c = AsyncClient(API)
        st = await c.status()
        seen = []
        async for b in c.blocks():
            seen.append(b["height"])
            if len(seen) == 2:
                break
        return st, seen
    st, seen = asyncio.run(run())
    assert seen[0] > st["height"] - 1 and seen[1] == seen[0] + 1


def test_epoch_subscription_gives_each_new_epoch_with_its_metagraph():
    c = Client(API)
    start = c.subnet(1)["epoch"]
    it = c.epoch_stream(1)
    a, b = next(it), next(it)
    assert a["epoch"] >= start and b["epoch"] == a["epoch"] + 1
    assert b["uids"] and all(u["hotkey"].startswith("agora1") for u in b["uids"])


def test_the_example_validator_scores_the_miner_and_reveals_its_weights(tmp_path):
    """sdk/python/examples/validator.py, registered and staked from Python, challenges the
    devnet's miner, finds its answers honest through the engine, and commits then reveals."""
    import sys
    c = Client(API)
    me, hot = owner(), Keypair.generate()
    chain = c.status()["chain_id"]
    cost = int(c.subnet(1)["registration_cost"])
    for kind, payload in ((tx.REGISTER, tx.register(chain, 1, me.public_key, hot, 2 * cost)),
                          (tx.STAKE_ADD, tx.stake(hot.address, 100 * tx.AGR)), (tx.TRANSFER, tx.transfer(hot.address, 10 * tx.AGR))):
        assert c.wait(c.send(me, kind, payload)["hash"])["result"]["code"] == "ok"
    key = tmp_path / "hot.json"
    save_keystore(str(key), "hot", hot, PASS)
    example = os.path.join(os.path.dirname(__file__), "..", "examples", "validator.py")
    r = subprocess.run([sys.executable, example, "--node", API, "--hotkey", str(key), "--agora", BIN, "--rounds", "30",
                        "--cache", str(tmp_path)], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, AGORA_PASSPHRASE=PASS))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    miner = next(u["uid"] for u in c.metagraph(1)["uids"] if u["hotkey"] != hot.address)
    assert any(x.get("uid") == miner and x.get("honest") for x in lines), r.stdout
    assert not any(x.get("honest") is False for x in lines), r.stdout  # the miner is honest
    assert any(x.get("commit") == "ok" for x in lines) and any(x.get("reveal") == "ok" for x in lines), r.stdout
    mine = next(u for u in c.metagraph(1, weights=True)["uids"] if u["hotkey"] == hot.address)
    assert [miner, 65535] in mine["weights"]


def test_paying_the_miner_through_a_channel_with_every_receipt_checked():
    """agora_sdk.economy: a charging miner refuses an unpaid request with its price; a channel
    opened here pays for answers, each receipt checked (the provider's signature, this request,
    this voucher, the book's total plus the cost); an altered receipt does not verify."""
    c = Client(API)
    model = c.subnet(1)["model"]["model_id"]
    hot = c.offers(model)["offers"][0]["provider"]
    ep = next(u["endpoint"] for u in c.metagraph(1)["uids"] if u["hotkey"] == hot)
    miner = MinerClient(f"{ep['protocol']}://{ep['host']}:{ep['port']}", hot)
    req = {"model": miner.models()["data"][0]["id"], "prompt": "Once upon a time", "max_tokens": 8, "temperature": 0}
    with pytest.raises(PaymentRequired) as e:
        miner.completion(req)
    assert e.value.code == "payment_required" and e.value.price["provider"] == hot
    payer = owner()
    ch = Channel.open(c, payer, hot, model, deposit=tx.AGR)
    on_chain = c.channel(ch.id)
    assert on_chain["deposit"] == str(tx.AGR) and on_chain["provider"] == hot
    first = miner.completion(req, ch, payer)
    assert first["choices"][0]["text"] and ch.billed > 0 and ch.seq >= 1
    billed = ch.billed
    req2 = dict(req, prompt="The network pays")
    second = miner.completion(req2, ch, payer)
    assert ch.billed > billed and ch.billed <= ch.signed <= ch.deposit
    pay = second["agora"]["payment"]
    body = json.dumps(req2).encode()
    assert economy.verify_payment(hot, body, pay)
    for field, bad in (("cost", str(int(pay["cost"]) + 1)), ("billed", str(int(pay["billed"]) - 1)), ("channel", "00" * 32)):
        assert not economy.verify_payment(hot, body, dict(pay, **{field: bad})), field
    assert not economy.verify_payment(hot, json.dumps(req).encode(), pay)  # another request
    assert not economy.verify_payment(payer.public_key, body, pay)  # another signer
    assert Channel.from_json(ch.to_json()) == ch
