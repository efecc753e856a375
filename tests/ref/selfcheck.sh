#!/usr/bin/env bash
# ctest test_ref_selfcheck: the two references agree with each other on both real files
# (llama_ref.py check: llama.cpp's logits against the independent float64 pass), so that a
# test comparing Agora against either stands on something checked. Skips (77) when
# scripts/bootstrap could not build the reference; fails when the models are missing.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
py="$root/.cache/ref-venv/bin/python"
if [ ! -x "$py" ]; then
  echo "skipped: the llama.cpp reference (.cache/ref-venv) could not be built; run scripts/bootstrap ref"
  exit 77
fi
# The verdict is a pure function of the reference script, its venv and the model files (pinned
# by SHA-256): a pass is remembered in the user's cache, beside the reference answers.
cache="${AGORA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agora}/ref-results"
passed=0 failed=0
for m in SmolLM2-135M-Instruct.Q4_1.gguf gemma-3-270m-q4_k_m.gguf; do
  echo "== $m"
  key=$( (cat "$root/tests/ref/llama_ref.py"; readlink -f "$root/.cache/ref-venv"; echo "$m";
          stat -c %s "$root/.cache/models/$m" 2>/dev/null) | sha256sum | cut -c1-32)
  if [ -f "$cache/selfcheck-$key" ]; then
    echo "agreed before (cached: $cache/selfcheck-$key)"
    passed=$((passed + 1))
    continue
  fi
  if OPENBLAS_NUM_THREADS=1 "$py" "$root/tests/ref/llama_ref.py" check --model "$root/.cache/models/$m" &&
     mkdir -p "$cache" && touch "$cache/selfcheck-$key"; then
    passed=$((passed + 1))
  else
    echo "FAIL: llama.cpp and the float64 pass disagree on $m (or it is missing: scripts/bootstrap models)"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
