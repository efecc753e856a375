"""bench_sdk's Python half: signs and submits N transfers with agora_sdk, one after another on
one thread (as a simple Python client would), from the dev keys of HOME; prints txs/s accepted."""
import sys
import time

from agora_sdk import ApiError, Client, load_keystore, tx

home, api, n, nacct = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
c = Client(api)
st = c.status()
keys = [load_keystore(f"{home}/keys/dev{i}.json", chain_id=st["chain_id"]) for i in range(nacct)]
nonces = [c.account(k.address)["pending_nonce"] for k in keys]
ok = 0
t0 = time.monotonic()
for i in range(n):
    k = i % nacct
    pay = tx.transfer(keys[(k + 1) % nacct].public_key, 1)
    try:
        c.submit(tx.build(tx.TRANSFER, st["chain_id"], keys[k], nonces[k], 100000, pay))
        ok += 1
    except ApiError:
        pass
    nonces[k] += 1
print(f"{ok / (time.monotonic() - t0):.1f} {ok}")
