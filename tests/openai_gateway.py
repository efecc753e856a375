"""The gateway (`agora gateway`), checked by the official OpenAI Python client in its strict
response validation mode: an app developer's view of Agora.

Starts `agora devnet --market` (three miners with offers, the cheapest of them a cheater; two
validators), waits for the validators' permits, makes API keys, and starts the gateway paying
from the devnet's owner key. Then: the first answer comes from an honest miner although the
cheater is cheaper (its wrong, paid answer is skipped and disputed on chain, on a second try:
the gateway's first send is made to fail); models, completions
and chat completions (plain and streamed, with usage) validate; what a key's answers cost (the
providers' signed receipts) is exactly what /v1/usage says it spent; a key over its budget gets
HTTP 402 (insufficient_quota); a wrong key gets 401; OpenAI's penalties are served and verified,
and parameters a miner cannot serve (logprobs, JSON mode, logit_bias) get 400 naming them. Run by ctest with the venv scripts/bootstrap
makes (.cache/openai-venv). Ends with "N passed, N failed".
"""
import json
import os
import signal
import subprocess
import time
import urllib.request

import openai
from oaitest import CheckFailed, check, get, run, test

AGORA = os.environ["AGORA_BIN"]
HOME = os.environ["AGORA_TEST_HOME"]

def agora(*args):
    out = subprocess.run([AGORA, "--home", HOME, "--json", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def wait_for(what, fn, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            v = fn()
            if v:
                return v
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    raise RuntimeError("%s did not happen within %d s" % (what, seconds))


subprocess.run(["rm", "-rf", HOME], check=True)
devnet_log = open(HOME + ".devnet.log", "w")
devnet = subprocess.Popen([AGORA, "--home", HOME, "devnet", "--miners", "3", "--cheaters", "1", "--validators", "2",
                           "--slow", "0", "--market", "--json"], stdout=subprocess.DEVNULL, stderr=devnet_log)
gateway = None


def devnet_ready():
    with open(HOME + "/devnet.json") as f:
        m = json.load(f)
    if not m.get("ready"):
        return None
    mg = get(m["node"] + "/v1/subnets/1/metagraph")
    served = [u for u in mg["uids"] if u.get("endpoint")]
    permits = [u for u in mg["uids"] if u.get("validator_permit")]
    return m if len(served) >= 3 and permits else None


try:
    manifest = wait_for("a devnet with three serving miners and validator permits", devnet_ready, 180)
    NODE = manifest["node"]
    app_key = agora("gateway", "keys", "add", "app", "--budget", "5")["key"]
    meter_key = agora("gateway", "keys", "add", "meter", "--budget", "5")["key"]
    poor_key = agora("gateway", "keys", "add", "poor", "--budget", "0.000001")["key"]
    ready = HOME + "/gateway.ready.json"
    gateway_log = open(HOME + ".gateway.log", "w")
    # the gateway's first dispute cannot reach the node (a fault it is told to play): it is
    # tried again, and the cheater is still disputed
    gateway = subprocess.Popen([AGORA, "--home", HOME, "--node", NODE, "gateway", "--pay-from", "owner", "--listen",
                                "127.0.0.1:0", "--deposit", "1", "--ready-file", ready],
                               stdout=subprocess.DEVNULL, stderr=gateway_log,
                               env=dict(os.environ, AGORA_FAULT_DISPUTE_SUBMIT="1"))
    base = wait_for("the gateway", lambda: json.load(open(ready))["url"], 120)
except Exception:
    devnet.send_signal(signal.SIGTERM)
    if gateway:
        gateway.send_signal(signal.SIGTERM)
    raise

client = openai.OpenAI(base_url=base, api_key=app_key, _strict_response_validation=True, max_retries=0, timeout=180)
lenient = openai.OpenAI(base_url=base, api_key=app_key, max_retries=0, timeout=180)
MODEL = client.models.list().data[0].id


def usage(key):
    req = urllib.request.Request(base + "/usage", headers={"Authorization": "Bearer " + key})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def offers():
    model_id = get(NODE + "/v1/subnets/1")["model"]["model_id"]
    return get(NODE + "/v1/offers?model=" + model_id)["offers"]


@test
def a_cheap_cheater_is_skipped_and_disputed():
    cheapest = min(offers(), key=lambda o: int(o["price_in_per_1k"]) + int(o["price_out_per_1k"]))["provider"]
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, max_tokens=12, seed=1, messages=[{"role": "user", "content": "Hello there"}])
    r = raw.parse()
    provider = raw.headers.get("x-agora-provider")
    check(provider and provider != cheapest,
          "the answer came from %r, the cheapest miner (a cheater), not from an honest one" % provider)
    check(isinstance(r.choices[0].message.content, str), "no text in the answer")
    # the first send failed (the fault): the evidence waits in HOME/disputes for the retry
    files = [json.load(open(HOME + "/disputes/" + n)) for n in os.listdir(HOME + "/disputes") if n.endswith(".json")]
    check(len(files) == 1, "not one evidence file: %r" % files)

    def disputed():
        d = get(NODE + "/v1/bonds/" + cheapest)["disputes"]
        return d["open"] + d["faults"] + d["cleared"] >= 1
    try:
        wait_for("the dispute, tried again", disputed, 90)
    except RuntimeError as e:
        raise CheckFailed(str(e))
    d = get(NODE + "/v1/bonds/" + cheapest)["disputes"]
    disputes = get(NODE + "/v1/disputes")["disputes"]
    check(any(x["provider"] == cheapest for x in disputes) or d["faults"] >= 1,
          "the chain lists no dispute against the cheater")
    # the chain shows the open as soon as it commits; the gateway writes the file when its
    # submit returns, a moment later
    path = HOME + "/disputes/" + files[0]["id"] + ".json"
    try:
        wait_for("the evidence file saying the dispute opened", lambda: json.load(open(path))["opened"] is True, 30)
    except RuntimeError:
        pass
    f = json.load(open(path))
    check(f["opened"] is True and "error" not in f, "the evidence file does not say the dispute opened: %r" % f)
    log = open(HOME + ".gateway.log").read()
    check("opened on a retry" in log, "the dispute was not opened by the retry")


@test
def models_list_and_retrieve():
    page = client.models.list()
    check(len(page.data) == 1, "GET /models lists %d models, not 1" % len(page.data))
    check(page.data[0].object == "model", "a model's object is %r" % page.data[0].object)
    one = client.models.retrieve(MODEL)
    check(one.id == MODEL, "GET /models/%s gives %r" % (MODEL, one.id))


@test
def completion_and_chat():
    r = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=12, seed=3)
    check(r.object == "text_completion", "object is %r" % r.object)
    check(r.choices[0].finish_reason in ("stop", "length"), "finish_reason is %r" % r.choices[0].finish_reason)
    u = r.usage
    check(u.total_tokens == u.prompt_tokens + u.completion_tokens, "usage does not add up: %r" % u)
    proof = (r.model_extra or {}).get("agora")
    check(isinstance(proof, dict) and "payment" in proof, "the answer has no agora proof with its payment")
    c = client.chat.completions.create(model=MODEL, max_completion_tokens=10, seed=5,
                                       messages=[{"role": "system", "content": "Be brief."},
                                                 {"role": "user", "content": "What is a cat?"}])
    check(c.object == "chat.completion", "object is %r" % c.object)
    check(c.choices[0].message.role == "assistant", "role is %r" % c.choices[0].message.role)


@test
def chat_stream_with_usage():
    text, usage, finishes, roles, ids = "", None, [], [], set()
    for chunk in client.chat.completions.create(model=MODEL, max_tokens=16, seed=11, stream=True,
                                                stream_options={"include_usage": True},
                                                messages=[{"role": "user", "content": "Tell me a story."}]):
        check(chunk.object == "chat.completion.chunk", "a chunk's object is %r" % chunk.object)
        ids.add(chunk.id)
        if not chunk.choices:
            usage = chunk.usage
            continue
        d = chunk.choices[0].delta
        if d.role:
            roles.append(d.role)
        text += d.content or ""
        if chunk.choices[0].finish_reason:
            finishes.append(chunk.choices[0].finish_reason)
    check(roles == ["assistant"], "the stream's roles are %r" % roles)
    check(len(finishes) == 1, "the stream has %d finish reasons" % len(finishes))
    check(len(ids) == 1, "the stream's chunks have %d ids" % len(ids))
    check(usage is not None and usage.completion_tokens >= 1, "no usage chunk: %r" % usage)


@test
def penalties_are_served_and_unserved_parameters_refused():
    # OpenAI's penalties reach the miner's sampler; the gateway re-executes the answer with them
    c = client.chat.completions.create(model=MODEL, max_tokens=16, seed=4, frequency_penalty=1.2, presence_penalty=0.6,
                                       messages=[{"role": "user", "content": "Say yes yes yes yes."}])
    check(c.choices[0].finish_reason in ("stop", "length"), "finish_reason is %r" % c.choices[0].finish_reason)
    # what a miner cannot serve is a 400 naming it, not an answer that ignores it
    for kw, param in (({"logprobs": True}, "logprobs"), ({"response_format": {"type": "json_object"}}, "response_format"),
                      ({"logit_bias": {"1": 5}}, "logit_bias")):
        try:
            client.chat.completions.create(model=MODEL, max_tokens=4, messages=[{"role": "user", "content": "Hi"}], **kw)
            raise CheckFailed("%s was ignored, not refused" % param)
        except openai.BadRequestError as e:
            check(e.status_code == 400 and e.param == param, "%s: status %d, param %r" % (param, e.status_code, e.param))


@test
def completion_stream():
    chunks = list(lenient.completions.create(model=MODEL, prompt="The sea", max_tokens=12, seed=2, stream=True))
    check(chunks and all(c.object == "text_completion" for c in chunks), "bad chunks: %r" % chunks)
    check(chunks[-1].choices[0].finish_reason in ("stop", "length"), "no finish reason at the end")


@test
def a_key_spends_exactly_what_its_answers_cost():
    metered = openai.OpenAI(base_url=base, api_key=meter_key, _strict_response_validation=True, max_retries=0,
                            timeout=180)
    before = usage(meter_key)
    cost = 0
    for seed in (7, 8):
        r = metered.completions.create(model=MODEL, prompt="A good friend", max_tokens=8, seed=seed)
        cost += int(r.model_extra["agora"]["payment"]["cost"])
    after = usage(meter_key)
    check(cost > 0, "the answers cost nothing")
    check(int(after["spent"]) - int(before["spent"]) == cost,
          "the key spent %s, its answers' receipts say %d" % (int(after["spent"]) - int(before["spent"]), cost))
    check(int(after["requests"]) - int(before["requests"]) == 2, "usage counts %s requests, not 2" % after["requests"])


@test
def a_key_over_budget_gets_402():
    poor = openai.OpenAI(base_url=base, api_key=poor_key, _strict_response_validation=True, max_retries=0, timeout=60)
    try:
        poor.completions.create(model=MODEL, prompt="hi", max_tokens=8)
        raise CheckFailed("a key with a budget below any price was served")
    except openai.APIStatusError as e:
        check(e.status_code == 402, "over budget: status %d, not 402" % e.status_code)
        check(e.code == "insufficient_quota", "over budget: code %r, not 'insufficient_quota'" % e.code)


@test
def a_wrong_key_gets_401():
    bad = openai.OpenAI(base_url=base, api_key="agk-" + "0" * 64, max_retries=0, timeout=30)
    try:
        bad.models.list()
        raise CheckFailed("a wrong key was served")
    except openai.AuthenticationError as e:
        check(e.status_code == 401, "a wrong key: status %d" % e.status_code)


run([gateway, devnet])
