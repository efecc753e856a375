#!/usr/bin/env bash
# The explorer in Debian's headless chromium (tests/explorer.py) against a live devnet (run by
# tests/with_devnet.sh); screenshots land in OUT_DIR. Usage: tests/explorer.sh AGORA_BIN SOURCE_DIR OUT_DIR
set -euo pipefail
src=$(realpath "$2")
py="$src/.cache/apitest-venv/bin/python"
if [ ! -x "$py" ] || [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "skip: selenium, chromium or chromium-driver is not installed (scripts/bootstrap apitest)"
  exit 77
fi
# the training subnet too (one trainer, one validator, a tiny model, 50-block rounds: 10 s, which a trainer and a validator under the sanitizers meet on a loaded machine), for its page
if [ -z "${AGORA_API:-}" ]; then
  # and a cheating miner beside the honest one, for a dispute's pages
  export AGORA_DEVNET_ARGS="--validators 1 --miners 2 --cheaters 1 --training --trainers 1 --free-riders 0 --front-runners 0
    --blenders 0 --train-dim 64 --train-layers 2 --round-blocks 50"
  exec "$src/tests/with_devnet.sh" "$1" "$3" "$(realpath "$0")" "$(realpath "$1")" "$src" "$(realpath -m "$3")"
fi
"$py" "$src/tests/explorer.py" "$AGORA_API" "$AGORA_DEVNET_HOME" . "$1"
