"""What the OpenAI conformance scripts share (tests/openai_strict.py, tests/openai_gateway.py):
test registration, checks that `python -O` cannot strip, a JSON GET, and the runner that ends
with "N passed, N failed"."""
import json
import signal
import subprocess
import sys
import traceback
import urllib.request

tests = []


def test(fn):
    tests.append(fn)
    return fn


class CheckFailed(Exception):
    """A check that did not hold."""


def check(cond, msg):
    """Fails the test with msg unless cond holds. Not `assert`: `python -O` strips those, and a
    test that checks nothing passes on anything."""
    if not cond:
        raise CheckFailed(msg)


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def run(procs):
    """Runs every registered test, stops procs (SIGTERM, then SIGKILL after 90 s) and exits."""
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
        for p in procs:
            if p:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            if not p:
                continue
            try:
                p.wait(timeout=90)
            except subprocess.TimeoutExpired:
                p.kill()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
