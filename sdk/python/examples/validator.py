"""A validator for Agora's inference subnet, in Python with agora_sdk (docs/subnet-inference.md).

Each round it sends every serving miner a fresh signed challenge, has the engine check the
answer (`agora model check-answer`: signature, request hash, prompt and sampling, text, and the
receipt re-executed bit for bit), and keeps a moving average score per miner (a wrong answer
zeroes it). Once per epoch it commits its weights and reveals them when the subnet allows.

  python validator.py --node URL --hotkey KEYFILE --agora BIN [--netuid 1] [--rounds N]
(passphrase from AGORA_PASSPHRASE)."""
import argparse
import http.client
import json
import os
import random
import subprocess
import tempfile
import time

from agora_sdk import ApiError, Client, endpoint, load_keystore, tx
from agora_sdk.tx import blake2b

PROMPTS = ["The network pays those who", "A validator checks", "Honest work is", "Tokens flow to"]


def challenge(ep, hot, body, public_only):
    """A completion request signed as this validator's challenge (free at a charging miner), sent
    to no private address unless the chain allows private endpoints."""
    sig = hot.sign(blake2b("agora/infchal", blake2b("agora/infreq", body)))
    return endpoint.post(ep, "/v1/completions", body, {"X-Agora-Validator": hot.address, "X-Agora-Signature": sig.hex()},
                         public_only)


def honest(agora, model_file, body, answer, miner_hotkey):
    """The engine's verdict through the CLI: 0 exit status is an honest answer."""
    with tempfile.TemporaryDirectory() as d:
        req, ans = os.path.join(d, "req.json"), os.path.join(d, "ans.json")
        open(req, "wb").write(body)
        open(ans, "wb").write(answer)
        r = subprocess.run([agora, "--json", "model", "check-answer", req, ans, "--hotkey", miner_hotkey, "-m", model_file],
                           capture_output=True, text=True)
    verdict = json.loads(r.stdout) if r.stdout.strip().startswith("{") else {"code": r.stderr.strip()}
    return r.returncode == 0, verdict


def model_file(c, netuid, cache):
    m = c.subnet(netuid)["model"]
    path = os.path.join(cache, m["model_id"] + ".bin")
    if not os.path.exists(path):
        open(path, "wb").write(c.model_file(m["model_id"]))
    return path


def send(c, key, kind, payload):
    """Signs and submits a tx; the committed result code."""
    return c.wait(c.send(key, kind, payload)["hash"])["result"]["code"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--node", default="http://127.0.0.1:8740")
    ap.add_argument("--hotkey", required=True)
    ap.add_argument("--agora", default="agora")
    ap.add_argument("--netuid", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=0, help="stop after N rounds (0: never)")
    ap.add_argument("--cache", default=tempfile.gettempdir())
    a = ap.parse_args()
    c = Client(a.node)
    hot = load_keystore(a.hotkey, os.environ.get("AGORA_PASSPHRASE"), chain_id=c.status()["chain_id"])
    model = model_file(c, a.netuid, a.cache)
    public_only = not c.incentive()["allow_private_endpoints"]
    scores, pending, last_epoch, n = {}, [], None, 0
    while not a.rounds or n < a.rounds:
        n += 1
        mg = c.metagraph(a.netuid)
        me = next((u["uid"] for u in mg["uids"] if u["hotkey"] == hot.address), None)
        if me is None:
            raise SystemExit(f"{hot.address} is not registered on subnet {a.netuid}")
        for u in mg["uids"]:
            ep = u["endpoint"]
            if u["uid"] == me or not ep:
                continue
            body = json.dumps({"model": "default", "prompt": random.choice(PROMPTS), "max_tokens": 12,
                               "temperature": 0.8, "seed": random.getrandbits(32)}).encode()
            try:
                answer = challenge(ep, hot, body, public_only)
            except (OSError, http.client.HTTPException) as e:  # no answer (or a 402 before it sees our permit)
                scores[u["uid"]] = 0.8 * scores.get(u["uid"], 0.0)
                print(json.dumps({"round": n, "uid": u["uid"], "no_answer": str(e)}), flush=True)
                continue
            ok, verdict = honest(a.agora, model, body, answer, u["hotkey"])
            scores[u["uid"]] = 0.8 * scores.get(u["uid"], 0.0) + 0.2 if ok else 0.0  # a wrong answer zeroes it
            print(json.dumps({"round": n, "uid": u["uid"], "honest": ok, "verdict": verdict.get("code"),
                              "score": round(scores[u["uid"]], 4)}), flush=True)
        epoch = mg["epoch"]
        if epoch != last_epoch and any(scores.values()):
            last_epoch = epoch
            top = max(scores.values())
            uids = sorted(u for u in scores if scores[u] > 0)
            weights = [max(1, round(65535 * scores[u] / top)) for u in uids]
            if mg["hyperparams"].get("commit_reveal"):
                salt = os.urandom(32)
                commit = tx.weights_commit(hot.public_key, a.netuid, uids, weights, salt)
                code = send(c, hot, tx.COMMIT_WEIGHTS, tx.commit_weights(a.netuid, commit))
                print(json.dumps({"epoch": epoch, "commit": code, "uids": uids, "weights": weights}), flush=True)
                if code == "ok":
                    pending.append((epoch, uids, weights, salt))
            else:
                print(json.dumps({"epoch": epoch, "set_weights": send(c, hot, tx.SET_WEIGHTS, tx.set_weights(a.netuid, uids, weights))}), flush=True)
        for p in list(pending):  # reveal once reveal_period epochs have passed
            if epoch >= p[0] + mg["hyperparams"].get("reveal_period", 1):
                code = send(c, hot, tx.REVEAL_WEIGHTS, tx.reveal_weights(a.netuid, p[1], p[2], p[3]))
                print(json.dumps({"epoch": epoch, "reveal": code, "of": p[0]}), flush=True)
                if code != "reveal_too_early":
                    pending.remove(p)
        time.sleep(1)


if __name__ == "__main__":
    try:
        main()
    except ApiError as e:
        raise SystemExit(f"agora: {e}")
