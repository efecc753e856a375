#!/usr/bin/env bash
# schemathesis (PyPI, pinned by scripts/bootstrap apitest) against a live devnet node (run by
# tests/with_devnet.sh): every operation of /openapi.json is called with generated valid and
# invalid input, bounded by --max-examples and --max-time; it fails on any 5xx, a status,
# content type, header or body that the description does not allow.
# Usage: tests/schemathesis.sh AGORA_BIN SOURCE_DIR OUT_DIR
set -euo pipefail
src=$(realpath "$2")
venv="$src/.cache/apitest-venv/bin"
if [ ! -x "$venv/schemathesis" ]; then
  echo "skip: schemathesis is not installed (scripts/bootstrap apitest)"
  exit 77
fi
if [ -z "${AGORA_API:-}" ]; then exec "$src/tests/with_devnet.sh" "$1" "$3" "$(realpath "$0")" "$(realpath "$1")" "$src" "$(realpath -m "$3")"; fi
# The description the node serves, with the devnet's real addresses and ids as parameter
# examples, so that generated requests also reach existing accounts, hotkeys and models.
"$venv/python" - "$AGORA_API" "$AGORA_DEVNET_HOME" openapi.json <<'PY'
import json, sys, urllib.request
api, home, out = sys.argv[1:4]
spec = json.load(urllib.request.urlopen(api + "/openapi.json"))
addr = lambda k: json.load(open(f"{home}/keys/{k}.json"))["address"]
model = json.load(urllib.request.urlopen(api + "/v1/subnets/1"))["model"]["model_id"]
values = {"address": [addr("owner"), addr("miner0-hot")], "coldkey": [addr("miner0-cold")],
          "hotkey": [addr("miner0-hot")], "account": [addr("owner")], "member": [addr("miner0-hot")],
          "model": [model], "id": [model], "netuid": [1], "height": ["1", "latest"]}
for item in spec["paths"].values():
    for op in item.values():
        for p in op.get("parameters", []):
            if p["name"] in values:
                p["examples"] = {f"e{i}": {"value": v} for i, v in enumerate(values[p["name"]])}
json.dump(spec, open(out, "w"))
PY
# the event stream never ends, so it is not a request schemathesis can wait for (its cache,
# .schemathesis/, stays in the output folder, the working directory)
"$venv/schemathesis" run openapi.json --url "$AGORA_API" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --exclude-path /v1/events/blocks \
  --mode all --max-examples 30 --max-time 40 --seed 20261205 --workers 1 --request-timeout 10 \
  --report junit --report-dir . --no-color 2>&1 | tee schemathesis.txt
