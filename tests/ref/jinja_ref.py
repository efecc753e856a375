#!/usr/bin/env python3
"""jinja_ref.py: templates rendered by the Python jinja2 package the way Hugging Face transformers
renders chat templates (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
raise_exception), the reference tests/test_jinja.c compares Agora's interpreter with.

Run with the reference venv: .cache/ref-venv/bin/python tests/ref/jinja_ref.py
stdin: one JSON object per line, {"template": "...", "vars": {...}}
stdout: one JSON line per request, the rendered string or {"error": "..."}.
"""
import json
import sys

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(msg):
    raise jinja2.exceptions.TemplateError(msg)


def main():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.globals["raise_exception"] = raise_exception
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            out = env.from_string(req["template"]).render(**req.get("vars", {}))
        except Exception as e:  # noqa: BLE001 - reported per request
            out = {"error": str(e)}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
