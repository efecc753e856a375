#!/usr/bin/env bash
# The Python SDK (sdk/python): installed from the repository with pip, then its pytest suite
# against a live devnet (run by tests/with_devnet.sh), the C CLI beside it for keystore round
# trips. Usage: tests/sdk.sh AGORA_BIN SOURCE_DIR OUT_DIR
set -euo pipefail
src=$(realpath "$2")
venv="$src/.cache/apitest-venv/bin"
if [ ! -x "$venv/pytest" ] || ! "$venv/python" -c "import nacl" 2>/dev/null; then
  echo "skip: pytest or PyNaCl is not installed (scripts/bootstrap apitest)"
  exit 77
fi
if [ -z "${AGORA_API:-}" ]; then exec "$src/tests/with_devnet.sh" "$1" "$3" "$(realpath "$0")" "$(realpath "$1")" "$src" "$(realpath -m "$3")"; fi
# pip-installable from the repo: into a folder of this run (never into the shared venv)
"$venv/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation --target site "$src/sdk/python"
rm -rf "$src/sdk/python/build" "$src/sdk/python/agora_sdk.egg-info"
AGORA_BIN=$(realpath "$1") PYTHONPATH="$PWD/site" PYTHONDONTWRITEBYTECODE=1 "$venv/python" -m pytest -q \
  -p no:cacheprovider "$src/sdk/python/tests" --rootdir . --junitxml=pytest.xml
