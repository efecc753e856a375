"""OpenAI conformance of an Agora miner, checked by the official Python client in its strict
response validation mode (every response and stream chunk validated with pydantic).

Starts `agora devnet` with one honest miner, points the client at the miner's /v1, and checks
models, completions, chat completions (plain and streamed, with usage), stop strings, content
parts, unknown fields, and the error statuses and bodies the client maps to its exceptions.
Run by ctest with the venv scripts/bootstrap makes (.cache/openai-venv). Ends with
"N passed, N failed".
"""
import json
import os
import signal
import subprocess
import sys
import time
import traceback
import urllib.request

import openai

AGORA = os.environ["AGORA_BIN"]
HOME = os.environ["AGORA_TEST_HOME"]

tests = []


def test(fn):
    tests.append(fn)
    return fn


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def start_devnet():
    subprocess.run(["rm", "-rf", HOME], check=True)
    log = open(HOME + ".log", "w")
    p = subprocess.Popen([AGORA, "--home", HOME, "devnet", "--miners", "1", "--validators", "0",
                          "--cheaters", "0", "--slow", "0", "--json"],
                         stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with open(HOME + "/devnet.json") as f:
                m = json.load(f)
            if not m.get("ready"):
                raise ValueError("not ready")
            node = m["node"]
            mg = get(node + "/v1/subnets/1/metagraph")
            eps = [u["endpoint"] for u in mg["uids"] if u.get("endpoint")]
            if eps:
                return p, "http://%s:%d/v1" % (eps[0]["host"], eps[0]["port"])
        except (OSError, ValueError, KeyError):
            pass
        if p.poll() is not None:
            raise RuntimeError("devnet exited; see " + HOME + ".log")
        time.sleep(0.3)
    raise RuntimeError("no miner announced itself within 90 s")


proc, base = start_devnet()
client = openai.OpenAI(base_url=base, api_key="unused", _strict_response_validation=True,
                       max_retries=0, timeout=60)
# Legacy /v1/completions streams: every OpenAI-compatible server, OpenAI's own included, sends
# "finish_reason": null until the last chunk, but the client validates each chunk with the
# non-streamed CompletionChoice type, whose finish_reason may not be null. Miners follow the
# servers (see docs/subnet-inference.md), so those streams are checked with the default client.
lenient = openai.OpenAI(base_url=base, api_key="unused", max_retries=0, timeout=60)
MODEL = client.models.list().data[0].id


@test
def models_list_and_retrieve():
    page = client.models.list()
    assert len(page.data) == 1 and page.data[0].object == "model"
    assert page.data[0].owned_by and isinstance(page.data[0].created, int)
    one = client.models.retrieve(MODEL)
    assert one.id == MODEL


@test
def completion():
    r = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=16, seed=3)
    assert r.object == "text_completion" and r.model == MODEL
    c = r.choices[0]
    assert isinstance(c.text, str) and c.finish_reason in ("stop", "length")
    assert r.usage.completion_tokens >= 1 and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    proof = r.model_extra["agora"]
    assert len(proof["signature"]) == 128 and len(proof["request_hash"]) == 64


@test
def chat_completion_with_system_and_parts():
    r = client.chat.completions.create(
        model=MODEL, max_completion_tokens=12, seed=5,
        messages=[{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": [{"type": "text", "text": "What is a cat?"}]}])
    assert r.object == "chat.completion"
    m = r.choices[0].message
    assert m.role == "assistant" and isinstance(m.content, str)
    assert r.choices[0].finish_reason in ("stop", "length")


@test
def chat_stream_with_usage_matches_the_plain_answer():
    kw = dict(model=MODEL, max_tokens=24, seed=11, temperature=0.9,
              messages=[{"role": "user", "content": "Tell me a story."}])
    plain = client.chat.completions.create(**kw).choices[0].message.content
    text, usage, finishes, roles, ids = "", None, [], [], set()
    for chunk in client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw):
        assert chunk.object == "chat.completion.chunk"
        ids.add(chunk.id)
        if not chunk.choices:  # the usage chunk comes last, with no choices
            usage = chunk.usage
            continue
        d = chunk.choices[0].delta
        if d.role:
            roles.append(d.role)
        text += d.content or ""
        if chunk.choices[0].finish_reason:
            finishes.append(chunk.choices[0].finish_reason)
    assert text == plain, (text, plain)
    assert roles == ["assistant"] and len(finishes) == 1 and len(ids) == 1
    assert usage is not None and usage.completion_tokens >= 1


@test
def completion_stream():
    kw = dict(model=MODEL, prompt="The sea", max_tokens=20, seed=2)
    plain = client.completions.create(**kw).choices[0].text
    chunks = list(lenient.completions.create(stream=True, **kw))
    assert all(c.object == "text_completion" for c in chunks)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == plain
    assert [c.choices[0].finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


@test
def stop_strings_cut_the_text():
    for seed in range(1, 6):
        r = client.completions.create(model=MODEL, prompt="Q: Why?\nA:", max_tokens=48, seed=seed, stop=["\n"])
        assert "\n" not in r.choices[0].text
        s = "".join(c.choices[0].text for c in
                    lenient.completions.create(model=MODEL, prompt="Q: Why?\nA:", max_tokens=48, seed=seed,
                                               stop=["\n"], stream=True) if c.choices)
        assert s == r.choices[0].text


@test
def unknown_fields_are_ignored():
    r = client.chat.completions.create(model=MODEL, max_tokens=4, presence_penalty=0.0, user="u1",
                                       messages=[{"role": "user", "content": "hi"}],
                                       extra_body={"an_unknown_field": {"x": 1}})
    assert r.choices[0].message.role == "assistant"


@test
def request_id_header():
    raw = client.completions.with_raw_response.create(model=MODEL, prompt="a", max_tokens=2)
    assert raw.headers.get("x-request-id") == raw.parse().id


@test
def errors_map_to_client_exceptions():
    try:
        client.completions.create(model=MODEL, prompt="hi", temperature=5)
        raise AssertionError("accepted temperature 5")
    except openai.BadRequestError as e:
        assert e.status_code == 400 and e.param == "temperature" and e.type == "invalid_request_error"
    try:
        client.completions.create(model=MODEL, prompt="word " * 2000, max_tokens=4)
        raise AssertionError("accepted an over-long prompt")
    except openai.BadRequestError as e:
        assert e.code == "context_length_exceeded"
    try:
        client.completions.create(model="no-such-model", prompt="hi")
        raise AssertionError("accepted an unknown model")
    except openai.NotFoundError as e:
        assert e.code == "model_not_found"
    try:
        client.chat.completions.create(model=MODEL, messages=[])
        raise AssertionError("accepted no messages")
    except openai.BadRequestError as e:
        assert e.param == "messages"


passed = failed = 0
try:
    for t in tests:
        try:
            t()
            passed += 1
            print("ok  ", t.__name__, flush=True)
        except Exception:
            failed += 1
            print("FAIL", t.__name__, flush=True)
            traceback.print_exc()
finally:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
