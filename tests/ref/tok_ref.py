#!/usr/bin/env python3
"""llama.cpp's tokenizer answers, for tests/test_tokenizer.c.

usage: tok_ref.py tokenize MODEL.gguf IN OUT [--special] [--add-special]
       tok_ref.py pieces MODEL.gguf OUT

tokenize: IN holds one text per line, hex-encoded (texts may hold any bytes, newlines
included); OUT gets one line per text, the ids llama_tokenize gives separated by spaces.
--special parses control tokens in the text (parse_special); --add-special adds BOS/EOS as
the file says (add_special).
pieces: OUT gets "id eog piece-hex" for every token (llama_token_to_piece with
special = false, llama_vocab_is_eog), then "bos B eos E".
Runs llama-cpp-python (the reference venv) with vocab_only.
"""
import ctypes
import sys

import llama_cpp


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    flags = [a for a in sys.argv[1:] if a.startswith("--")]
    if not args or args[0] not in ("tokenize", "pieces") or len(args) != (4 if args[0] == "tokenize" else 3) \
            or any(f not in ("--special", "--add-special") for f in flags):
        sys.exit(__doc__)
    llm = llama_cpp.Llama(model_path=args[1], vocab_only=True, verbose=False)
    if args[0] == "tokenize":
        special = "--special" in flags
        add = "--add-special" in flags
        with open(args[2]) as f, open(args[3], "w") as out:
            for line in f:
                ids = llm.tokenize(bytes.fromhex(line.strip()), add_bos=add, special=special)
                out.write(" ".join(map(str, ids)) + "\n")
        return
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    buf = ctypes.create_string_buffer(1 << 16)
    with open(args[2], "w") as out:
        for i in range(llama_cpp.llama_vocab_n_tokens(vocab)):
            k = llama_cpp.llama_token_to_piece(vocab, i, buf, len(buf), 0, False)
            eog = 1 if llama_cpp.llama_vocab_is_eog(vocab, i) else 0
            out.write("%d %d %s\n" % (i, eog, buf.raw[:k].hex()))
        out.write("bos %d eos %d\n" % (llama_cpp.llama_vocab_bos(vocab), llama_cpp.llama_vocab_eos(vocab)))


if __name__ == "__main__":
    main()
