"""What needs no node: the encoding against the repo's frozen vector, addresses, the keystore."""
import http.server
import json
import os
import pathlib
import threading

import pytest

from agora_sdk import (AddressError, Keypair, KeystoreError, address, endpoint, load_keystore, public_key, save_keystore,
                       tx, verify)

ROOT = pathlib.Path(__file__).resolve().parents[3]


def seed_key(i: int) -> Keypair:
    """tests/testutil.h seed_key(i): seed i, i >> 8, zeros, 0x5a."""
    s = bytearray(32)
    s[0], s[1], s[31] = i & 255, i >> 8 & 255, 0x5A
    return Keypair.from_seed(bytes(s))


def test_transfer_is_byte_identical_to_the_c_encoder():
    b = tx.build(tx.TRANSFER, "agora-test", seed_key(1), 7, 5000, tx.transfer(seed_key(2).public_key, 123456789))
    assert b.hex() == (ROOT / "tests/vectors/tx_transfer.hex").read_text().strip()
    t = tx.decode(b)
    assert t.hash == "0e8a8f9c019b6e46961322bf2b913912d9e8601f6de32cb831315600a99bb832"
    assert (t.kind, t.chain_id, t.nonce, t.fee, t.valid_until) == (1, "agora-test", 7, 5000, 0)
    assert len(b) == tx.size("agora-test", 40) == 178


def test_validator_bond_is_byte_identical_to_the_c_encoder():
    b = tx.validator_bond("agora-test", seed_key(1).public_key, seed_key(2), 10 * tx.AGR)
    assert b.hex() == (ROOT / "tests/vectors/validator_bond.hex").read_text().strip()
    assert verify(seed_key(2).public_key, tx.validator_bond_claim("agora-test", seed_key(1).public_key,
                                                                  seed_key(2).public_key), b[40:])
    assert tx.validator_unbond(seed_key(2).public_key, 5) == seed_key(2).public_key + (5).to_bytes(8, "little")


def test_addresses_round_trip_and_typos_are_refused():
    kp = seed_key(3)
    a = kp.address
    assert len(a) == 64 and a.startswith("agora1")
    assert public_key(a) == kp.public_key and public_key(a.upper()) == kp.public_key
    typo = a[:20] + ("q" if a[20] != "q" else "p") + a[21:]
    with pytest.raises(AddressError):
        public_key(typo)
    with pytest.raises(AddressError):
        public_key(a[:10] + a[10:].upper())  # mixed case
    assert Keypair.from_backup(kp.backup()) == kp


def test_amounts_are_exact():
    assert tx.parse_amount("12.5") == 12_500_000_000
    assert tx.parse_amount("0.000000001") == 1
    for bad in ("1e9", "-5", "5.0000000001", "", "1,000"):
        with pytest.raises(ValueError):
            tx.parse_amount(bad)


def test_keystore_round_trip_and_refusals(tmp_path):
    kp = Keypair.generate()
    p = tmp_path / "k.json"
    save_keystore(str(p), "k", kp, "correct horse")
    assert oct(os.stat(p).st_mode & 0o777) == "0o600"
    assert load_keystore(str(p), "correct horse") == kp
    with pytest.raises(KeystoreError) as e:
        load_keystore(str(p), "wrong passphrase")
    assert e.value.code == "bad_passphrase"
    doc = json.loads(p.read_text())
    doc["address"] = seed_key(9).address  # re-labelled: the address is the associated data
    p.write_text(json.dumps(doc))
    with pytest.raises(KeystoreError) as e:
        load_keystore(str(p), "correct horse")
    assert e.value.code == "bad_passphrase"
    doc = json.loads((tmp_path / "k.json").read_text())
    doc["crypto"]["opslimit"] = 1  # a cheaper KDF than Agora writes
    p.write_text(json.dumps(doc))
    with pytest.raises(KeystoreError) as e:
        load_keystore(str(p), "correct horse")
    assert e.value.code == "keystore_weak_kdf"
    dev = tmp_path / "dev.json"
    save_keystore(str(dev), "dev", kp, None, insecure_chain_id="agora-devnet")
    assert load_keystore(str(dev), chain_id="agora-devnet") == kp
    with pytest.raises(KeystoreError) as e:
        load_keystore(str(dev), chain_id="agora-main")
    assert e.value.code == "insecure_key"


def test_economy_payloads_have_the_documented_sizes_and_costs_round_up():
    from agora_sdk import economy as e
    k, m = Keypair.from_seed(bytes(32)), "ab" * 32
    assert len(e.channel_open(k.public_key, m, 10**6)) == 120
    assert len(e.channel_fund(m, 5)) == 40 and len(e.channel_close(m)) == 32
    assert len(e.offer_post(k.address, m, 1, 2, 256, 10**10)) == 92 and len(e.offer_remove(k.address, m)) == 64
    assert len(e.bond_unbond(k.public_key, 1)) == 40 and len(e.bond_withdraw(k.public_key)) == 32
    assert e.channel_claim(b"v", 7, close=True)[:9] == bytes([1]) + (7).to_bytes(8, "little")
    assert e.offer_cost(1000, 10000, 3, 2) == 3 + 20 and e.offer_cost(1, 1, 1, 1) == 2  # each part rounds up
    v = e.voucher("agora-test", m, 500, 3, k)
    assert v[:2] == bytes([1, 10]) and v[2:12] == b"agora-test" and len(v) == 2 + 10 + 32 + 8 + 8 + 64
    assert verify(k.public_key, tx.blake2b("agora/voucher", v[:-64]), v[-64:])
    with pytest.raises(ValueError):
        e.Channel("agora-test", m, k.address, deposit=100).voucher_for(101, k)  # never above the deposit


def test_channel_claims_is_byte_identical_to_the_c_encoder():
    from agora_sdk import economy as e
    client = seed_key(1)
    v = [e.voucher("agora-test", bytes([0x11]) * 32, 500, 1, client), e.voucher("agora-test", bytes([0x22]) * 32, 700, 2, client)]
    p = e.channel_claims([(v[0], 400, False), (v[1], 0, True)])
    assert tx.fee_units(e.CHANNEL_CLAIMS, p) == 2 and tx.fee_units(48, bytes(32) + (49).to_bytes(2, "little") + p) == 2
    fee = tx.min_fee({"base_fee": "1000", "per_byte_fee": "10"}, "agora-test", len(p), tx.fee_units(e.CHANNEL_CLAIMS, p))
    b = tx.build(e.CHANNEL_CLAIMS, "agora-test", seed_key(4), 3, fee, p)
    assert b.hex() == (ROOT / "tests/vectors/tx_channel_claims.hex").read_text().strip()
    with pytest.raises(ValueError):
        e.channel_claims([])


def test_endpoints_that_resolve_inside_a_network_are_not_contacted():
    """A name the chain accepts can resolve to a private address ("localhost" stands for one):
    with public_only (a chain without allow_private_endpoints) nothing reaches the server."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            hits.append(self.headers["Host"])
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        ep = {"host": "localhost", "port": srv.server_address[1]}
        with pytest.raises(endpoint.PrivateAddressError, match=r"resolves to (127\.0\.0\.1|::1),"):
            endpoint.post(ep, "/v1/completions", b"{}")
        assert hits == []
        assert endpoint.post(ep, "/v1/completions", b"{}", public_only=False) == b"ok"
        assert hits == [f"localhost:{ep['port']}"]  # the name, though the address was checked and used
    finally:
        srv.shutdown()
    for a in ("10.1.2.3", "127.0.0.1", "169.254.169.254", "100.64.0.1", "224.0.0.1", "::1", "fe80::1", "::ffff:8.8.8.8",
              "64:ff9b::a00:5", "2002:a9fe:a9fe::1", "::8.8.8.8", "64:ff9b:1::1"):
        assert endpoint.is_private(a), a
    for a in ("8.8.8.8", "2001:4860::8888", "1.1.1.1", "64:ff9b::808:808", "2002:808:808::1"):
        assert not endpoint.is_private(a), a
    assert endpoint.url({"host": "2001:db8::1", "port": 80}) == "http://[2001:db8::1]:80"
