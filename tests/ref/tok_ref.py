#!/usr/bin/env python3
"""llama.cpp's token ids for a batch of texts, for tests/test_tokenizer.c.

usage: tok_ref.py MODEL.gguf IN OUT [--special] [--add-special]

IN holds one text per line, hex-encoded (texts may hold any bytes, newlines included).
OUT gets one line per text: the ids llama_tokenize gives, separated by spaces.
--special parses control tokens in the text (parse_special); --add-special adds BOS/EOS as
the file says (add_special). Runs llama-cpp-python (the reference venv) with vocab_only.
"""
import sys

import llama_cpp


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    flags = [a for a in sys.argv[1:] if a.startswith("--")]
    if len(args) != 3 or any(f not in ("--special", "--add-special") for f in flags):
        sys.exit(__doc__)
    model, src, dst = args
    special = "--special" in flags
    add = "--add-special" in flags
    llm = llama_cpp.Llama(model_path=model, vocab_only=True, verbose=False)
    with open(src) as f, open(dst, "w") as out:
        for line in f:
            text = bytes.fromhex(line.strip())
            ids = llm.tokenize(text, add_bos=add, special=special)
            out.write(" ".join(map(str, ids)) + "\n")


if __name__ == "__main__":
    main()
