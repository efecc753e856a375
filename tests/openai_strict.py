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
import subprocess
import time

import openai
from oaitest import CheckFailed, check, get, run, test

AGORA = os.environ["AGORA_BIN"]
HOME = os.environ["AGORA_TEST_HOME"]

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
    check(len(page.data) == 1, "GET /models lists %d models, not 1" % len(page.data))
    m = page.data[0]
    check(m.object == "model", "a model's object is %r, not 'model'" % m.object)
    check(m.owned_by, "a model has no owned_by")
    check(isinstance(m.created, int), "a model's created is %r, not an integer" % m.created)
    one = client.models.retrieve(MODEL)
    check(one.id == MODEL, "GET /models/%s gives the model %r" % (MODEL, one.id))


@test
def completion():
    r = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=16, seed=3)
    check(r.object == "text_completion", "object is %r, not 'text_completion'" % r.object)
    check(r.model == MODEL, "model is %r, not %r" % (r.model, MODEL))
    c = r.choices[0]
    check(isinstance(c.text, str), "text is %r, not a string" % (c.text,))
    check(c.finish_reason in ("stop", "length"), "finish_reason is %r" % c.finish_reason)
    u = r.usage
    check(u.completion_tokens >= 1, "usage counts %d completion tokens" % u.completion_tokens)
    check(u.total_tokens == u.prompt_tokens + u.completion_tokens,
          "usage: total_tokens %d is not %d prompt + %d completion tokens"
          % (u.total_tokens, u.prompt_tokens, u.completion_tokens))
    proof = (r.model_extra or {}).get("agora")
    check(isinstance(proof, dict), "the answer has no agora proof")
    check(len(proof.get("signature", "")) == 128, "the proof's signature is not 128 hex digits: %r"
          % proof.get("signature"))
    check(len(proof.get("request_hash", "")) == 64, "the proof's request_hash is not 64 hex digits: %r"
          % proof.get("request_hash"))


@test
def chat_completion_with_system_and_parts():
    r = client.chat.completions.create(
        model=MODEL, max_completion_tokens=12, seed=5,
        messages=[{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": [{"type": "text", "text": "What is a cat?"}]}])
    check(r.object == "chat.completion", "object is %r, not 'chat.completion'" % r.object)
    m = r.choices[0].message
    check(m.role == "assistant", "the message's role is %r, not 'assistant'" % m.role)
    check(isinstance(m.content, str), "the message's content is %r, not a string" % (m.content,))
    check(r.choices[0].finish_reason in ("stop", "length"), "finish_reason is %r" % r.choices[0].finish_reason)


@test
def chat_stream_with_usage_matches_the_plain_answer():
    kw = dict(model=MODEL, max_tokens=24, seed=11, temperature=0.9,
              messages=[{"role": "user", "content": "Tell me a story."}])
    plain = client.chat.completions.create(**kw).choices[0].message.content
    text, usage, finishes, roles, ids = "", None, [], [], set()
    for chunk in client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw):
        check(chunk.object == "chat.completion.chunk", "a chunk's object is %r" % chunk.object)
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
    check(text == plain, "the stream says %r, the plain answer %r" % (text, plain))
    check(roles == ["assistant"], "the stream's roles are %r, not one 'assistant'" % roles)
    check(len(finishes) == 1, "the stream has %d finish reasons, not 1: %r" % (len(finishes), finishes))
    check(len(ids) == 1, "the stream's chunks have %d ids, not 1: %r" % (len(ids), sorted(ids)))
    check(usage is not None, "the stream has no usage chunk (include_usage was asked)")
    check(usage.completion_tokens >= 1, "the usage chunk counts %d completion tokens" % usage.completion_tokens)


@test
def completion_stream():
    kw = dict(model=MODEL, prompt="The sea", max_tokens=20, seed=2)
    plain = client.completions.create(**kw).choices[0].text
    chunks = list(lenient.completions.create(stream=True, **kw))
    check(chunks, "the stream has no chunks")
    objects = sorted(set(c.object for c in chunks))
    check(objects == ["text_completion"], "the chunks' objects are %r, not 'text_completion'" % objects)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    check(text == plain, "the stream says %r, the plain answer %r" % (text, plain))
    early = [c.choices[0].finish_reason for c in chunks[:-1]]
    check(early == [None] * (len(chunks) - 1), "finish_reason before the last chunk: %r" % early)
    last = chunks[-1].choices[0].finish_reason
    check(last in ("stop", "length"), "the last chunk's finish_reason is %r" % last)


@test
def stop_strings_cut_the_text():
    for seed in range(1, 6):
        r = client.completions.create(model=MODEL, prompt="Q: Why?\nA:", max_tokens=48, seed=seed, stop=["\n"])
        check("\n" not in r.choices[0].text, "seed %d: the stop string is in the text %r" % (seed, r.choices[0].text))
        s = "".join(c.choices[0].text for c in
                    lenient.completions.create(model=MODEL, prompt="Q: Why?\nA:", max_tokens=48, seed=seed,
                                               stop=["\n"], stream=True) if c.choices)
        check(s == r.choices[0].text, "seed %d: the stream says %r, the plain answer %r" % (seed, s, r.choices[0].text))


@test
def unknown_fields_are_ignored():
    r = client.chat.completions.create(model=MODEL, max_tokens=4, presence_penalty=0.0, user="u1",
                                       messages=[{"role": "user", "content": "hi"}],
                                       extra_body={"an_unknown_field": {"x": 1}})
    check(r.choices[0].message.role == "assistant", "the message's role is %r" % r.choices[0].message.role)


@test
def request_id_header():
    raw = client.completions.with_raw_response.create(model=MODEL, prompt="a", max_tokens=2)
    rid, cid = raw.headers.get("x-request-id"), raw.parse().id
    check(rid == cid, "X-Request-Id is %r, the completion's id %r" % (rid, cid))


@test
def errors_map_to_client_exceptions():
    try:
        client.completions.create(model=MODEL, prompt="hi", temperature=5)
        raise CheckFailed("accepted temperature 5")
    except openai.BadRequestError as e:
        check(e.status_code == 400, "temperature 5: status %d, not 400" % e.status_code)
        check(e.param == "temperature", "temperature 5: param %r, not 'temperature'" % e.param)
        check(e.type == "invalid_request_error", "temperature 5: type %r, not 'invalid_request_error'" % e.type)
    try:
        client.completions.create(model=MODEL, prompt="word " * 2000, max_tokens=4)
        raise CheckFailed("accepted an over-long prompt")
    except openai.BadRequestError as e:
        check(e.code == "context_length_exceeded", "an over-long prompt: code %r, not 'context_length_exceeded'" % e.code)
    try:
        client.completions.create(model="no-such-model", prompt="hi")
        raise CheckFailed("accepted an unknown model")
    except openai.NotFoundError as e:
        check(e.code == "model_not_found", "an unknown model: code %r, not 'model_not_found'" % e.code)
    try:
        client.chat.completions.create(model=MODEL, messages=[])
        raise CheckFailed("accepted no messages")
    except openai.BadRequestError as e:
        check(e.param == "messages", "no messages: param %r, not 'messages'" % e.param)


run([proc])
