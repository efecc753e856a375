#!/usr/bin/env bash
# Runs a command against a live devnet with its market (subnets, a pinned model registered as an
# asset, offers; one miner, no validators): tests/with_devnet.sh AGORA_BIN OUT_DIR CMD ARGS...
# starts `agora devnet` in OUT_DIR/devnet, waits for its API, runs CMD with AGORA_API (the URL)
# and AGORA_DEVNET_HOME set, then stops the devnet. Exits with CMD's status. AGORA_DEVNET_ARGS
# adds arguments to the devnet's (word-split).
set -euo pipefail
bin=$(realpath "$1") out=$(realpath -m "$2")
shift 2
rm -rf "$out"
mkdir -p "$out"
home="$out/devnet"
export AGORA_PASSPHRASE=devnet-test-run
# shellcheck disable=SC2086
"$bin" --home "$home" devnet --miners 1 --cheaters 0 --slow 0 --validators 0 --market --block-time 200 \
  ${AGORA_DEVNET_ARGS:-} >"$out/devnet.log" 2>&1 &
pid=$!
trap 'kill -INT $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 600); do
  [ -s "$home/data/api.addr" ] && curl -sf "http://$(cat "$home/data/api.addr")/health" >/dev/null && break
  kill -0 $pid 2>/dev/null || { cat "$out/devnet.log"; exit 1; }
  sleep 0.1
done
export AGORA_API="http://$(cat "$home/data/api.addr")" AGORA_DEVNET_HOME="$home"
cd "$out"
"$@"
