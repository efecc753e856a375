#!/usr/bin/env python3
"""llama_ref.py: the reference answers Agora's engine is checked against, for any GGUF file.

Two independent references:
  - llama.cpp itself, through the Python bindings (llama-cpp-python, built from its sdist by
    `scripts/bootstrap ref`): tokenization, logits, greedy decoding, vocabulary facts;
  - a float64 forward pass in numpy on the file's own weights, read and dequantized by the PyPI
    `gguf` package (GGUFReader, gguf.quants.dequantize), written from the architecture's
    definition for `llama` and `gemma3`. It shares no code with llama.cpp or Agora.
It deliberately does not sample, batch several sequences or keep state between requests: every
request is a fresh sequence from position 0.

Run it with the reference venv:  .cache/ref-venv/bin/python tests/ref/llama_ref.py CMD ...
Every command reads requests on stdin, one JSON value per line, and writes one JSON line per
request to stdout, in order, flushed after each line (so a test can drive it over a pipe, one
line at a time). Blank input lines are skipped. A request that fails gives {"error": "..."}
and the command goes on; bad arguments exit 2. llama.cpp's own logging goes nowhere (errors go
to stderr).

Commands (F is a .gguf path):
  tokenize --model F [--add-special] [--parse-special]
      in:  "text"  (a JSON string, encoded as UTF-8)  or  {"hex": "..."} (raw bytes)
      out: [ids]   llama_tokenize(vocab, bytes, add_special, parse_special): --add-special adds
           BOS/EOS as the file's add_bos_token/add_eos_token say; --parse-special turns
           special-token text such as "<|im_start|>" into its id.
  detokenize --model F [--special]
      in:  [ids]   out: {"hex": bytes as hex, "text": bytes decoded as UTF-8 with U+FFFD}
           The concatenation of llama_token_to_piece(id, lstrip=0, special) for each id.
  info --model F
      in:  none (reads no stdin)   out: one object: n_vocab, n_ctx_train, bos, eos, eot, eog
           (every id llama.cpp treats as end of generation), add_bos, add_eos, chat_template,
           and the file's metadata as llama.cpp reads it (values as strings; arrays left out).
  logits --model F [--threads N] [--out FILE]
      in:  [ids]   out: {"n": n, "n_vocab": V, "top1": [n ids], "offset": o}
           Evaluates the ids in one fresh context (n_ctx >= n, n_batch = n_ubatch = n, all
           positions output, llama.cpp's defaults otherwise: f16 KV cache, flash attention
           "auto"). With --out, the logits are appended to FILE (truncated at start) as
           float32 little-endian, row-major [n][V], starting at byte offset o; row i is the
           distribution of the token after ids[0..i]. top1[i] is the first index of the
           largest logit in row i. Without --out, offset is null.
  greedy --model F --max N [--threads N] [--no-stop]
      in:  [ids]   out: {"ids": [generated ids], "eog": id or null}
           Greedy (argmax, first index on ties) decoding from the prompt, one token per
           llama_decode after the prompt, up to N tokens; stops at the first end-of-generation
           id, which is reported as "eog" and not included in "ids" (--no-stop: never stops).
  f64 --model F [--out FILE]
      in:  [ids]   out: as for logits, but the file holds float64 little-endian [n][V]
           The independent numpy forward pass. Weights are dequantized to float32 exactly as
           ggml's dequantize_row_* would (that is what the quantized numbers mean) and every
           computation after that is float64.
  check --model F [--threads N] [--n N] [--min-agree A] [--max-kl K]
      in:  none   out: one object per built-in prompt, then a summary: llama.cpp's logits
           against the float64 pass on the same ids: top-1 agreement, max |diff| relative to
           the largest |logit|, and the KL divergence KL(f64 || llama.cpp) per position.
           Exits 1 when the agreement is below A or a KL above K (defaults 0.95 and 0.1).
  template --model F
      in:  {"messages": [...], "add_generation_prompt": bool, ...extra variables}
      out: "the rendered text" — the file's tokenizer.chat_template rendered by jinja2 the way
           Hugging Face transformers does it (sandboxed, trim_blocks, lstrip_blocks,
           loopcontrols, raise_exception(), bos_token/eos_token as text).
"""
import argparse
import ctypes
import json
import math
import os
import sys

import numpy as np


def die(msg):
    print(f"llama_ref: {msg}", file=sys.stderr)
    sys.exit(2)


def requests(stdin=sys.stdin):
    for line in stdin:
        line = line.strip()
        if line:
            yield json.loads(line)


def emit(obj):
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def as_ids(req):
    if not isinstance(req, list) or not req or not all(isinstance(t, int) for t in req):
        raise ValueError("expected a non-empty JSON list of token ids")
    return req


# ---------------------------------------------------------------------------------------------
# llama.cpp through the bindings' C API (llama_cpp.llama_cpp), one model per process.

class LlamaCpp:
    def __init__(self, path, vocab_only=False, threads=2):
        import llama_cpp.llama_cpp as C

        self.C = C
        # Silence llama.cpp's logging except errors. The callback must outlive the model.
        def log(level, text, _user):
            if level == 4:  # GGML_LOG_LEVEL_ERROR
                sys.stderr.write(text.decode("utf-8", "replace"))
        self._log = C.llama_log_callback(log)
        C.llama_log_set(self._log, ctypes.c_void_p(0))
        C.llama_backend_init()
        mp = C.llama_model_default_params()
        mp.vocab_only = vocab_only
        mp.use_mmap = True
        self.model = C.llama_model_load_from_file(path.encode(), mp)
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {path}")
        self.vocab = C.llama_model_get_vocab(self.model)
        self.n_vocab = C.llama_vocab_n_tokens(self.vocab)
        self.threads = threads

    def tokenize(self, data, add_special, parse_special):
        C = self.C
        cap = len(data) + 8
        while True:
            buf = (C.llama_token * cap)()
            n = C.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special, parse_special)
            if n >= 0:
                return list(buf[:n])
            if -n <= cap:
                raise RuntimeError(f"llama_tokenize failed ({n})")
            cap = -n

    def piece(self, tok, special):
        C = self.C
        cap = 64
        while True:
            buf = ctypes.create_string_buffer(cap)
            n = C.llama_token_to_piece(self.vocab, tok, buf, cap, 0, special)
            if n >= 0:
                return buf.raw[:n]
            cap = -n

    def _context(self, n_ctx, n_batch):
        C = self.C
        cp = C.llama_context_default_params()
        cp.n_ctx = n_ctx
        cp.n_batch = n_batch
        cp.n_ubatch = n_batch
        cp.n_seq_max = 1
        cp.n_threads = self.threads
        cp.n_threads_batch = self.threads
        cp.no_perf = True
        ctx = C.llama_init_from_model(self.model, cp)
        if not ctx:
            raise RuntimeError("llama_init_from_model failed")
        return ctx

    def _decode(self, ctx, ids, pos0, all_logits):
        C = self.C
        n = len(ids)
        batch = C.llama_batch_init(n, 0, 1)
        try:
            batch.n_tokens = n
            for i, t in enumerate(ids):
                batch.token[i] = t
                batch.pos[i] = pos0 + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = all_logits or i == n - 1
            rc = C.llama_decode(ctx, batch)
            if rc != 0:
                raise RuntimeError(f"llama_decode returned {rc}")
        finally:
            C.llama_batch_free(batch)

    def logits(self, ids):
        """float32 [n][n_vocab] for every position, from one fresh context and one batch."""
        C = self.C
        n = len(ids)
        ctx = self._context(max(256, -(-n // 256) * 256), n)
        try:
            self._decode(ctx, ids, 0, True)
            ptr = C.llama_get_logits(ctx)
            return np.ctypeslib.as_array(ptr, shape=(n, self.n_vocab)).copy()
        finally:
            C.llama_free(ctx)

    def greedy(self, ids, max_new, stop):
        C = self.C
        n_ctx = max(256, -(-(len(ids) + max_new) // 256) * 256)
        ctx = self._context(n_ctx, len(ids))
        out, eog = [], None
        try:
            self._decode(ctx, ids, 0, False)
            pos = len(ids)
            for _ in range(max_new):
                row = np.ctypeslib.as_array(C.llama_get_logits_ith(ctx, -1), shape=(self.n_vocab,))
                tok = int(np.argmax(row))
                if stop and C.llama_vocab_is_eog(self.vocab, tok):
                    eog = tok
                    break
                out.append(tok)
                self._decode(ctx, [tok], pos, False)
                pos += 1
        finally:
            C.llama_free(ctx)
        return out, eog

    def info(self):
        C, v = self.C, self.vocab
        meta = {}
        buf = ctypes.create_string_buffer(1 << 20)
        for i in range(C.llama_model_meta_count(self.model)):
            C.llama_model_meta_key_by_index(self.model, i, buf, len(buf))
            key = buf.value.decode()
            C.llama_model_meta_val_str_by_index(self.model, i, buf, len(buf))
            meta[key] = buf.value.decode("utf-8", "replace")
        tmpl = C.llama_model_chat_template(self.model, None)
        neg = lambda t: None if t < 0 else t  # noqa: E731
        return {
            "n_vocab": self.n_vocab,
            "n_ctx_train": C.llama_model_n_ctx_train(self.model),
            "bos": neg(C.llama_vocab_bos(v)),
            "eos": neg(C.llama_vocab_eos(v)),
            "eot": neg(C.llama_vocab_eot(v)),
            "eog": [t for t in range(self.n_vocab) if C.llama_vocab_is_eog(v, t)],
            "add_bos": bool(C.llama_vocab_get_add_bos(v)),
            "add_eos": bool(C.llama_vocab_get_add_eos(v)),
            "chat_template": tmpl.decode() if tmpl else None,
            "metadata": {k: s for k, s in meta.items() if not k.startswith("tokenizer.ggml.")
                         or k in ("tokenizer.ggml.model", "tokenizer.ggml.pre")},
        }


# ---------------------------------------------------------------------------------------------
# The independent float64 forward pass.

class F64Model:
    """llama and gemma3 from the GGUF definition. Activations are float64 throughout; weights
    are what the file's blocks decode to (float32, as ggml dequantizes them), widened to
    float64 when used. Keys that would change the computation and that this pass does not
    implement are refused by name."""

    def __init__(self, path):
        from gguf import GGUFReader, GGUFValueType
        self.r = GGUFReader(path)
        self._VT = GGUFValueType
        self.arch = self.kv("general.architecture")
        if self.arch not in ("llama", "gemma3"):
            raise NotImplementedError(f"f64: architecture {self.arch!r} is not implemented")
        a = self.arch
        self.n_layer = self.kv(f"{a}.block_count")
        self.n_embd = self.kv(f"{a}.embedding_length")
        self.n_head = self.kv(f"{a}.attention.head_count")
        self.n_head_kv = self.kv(f"{a}.attention.head_count_kv", self.n_head)
        self.head_dim = self.kv(f"{a}.attention.key_length", self.n_embd // self.n_head)
        self.v_dim = self.kv(f"{a}.attention.value_length", self.head_dim)
        self.n_rot = self.kv(f"{a}.rope.dimension_count", self.head_dim)
        self.eps = self.kv(f"{a}.attention.layer_norm_rms_epsilon")
        self.base = self.kv(f"{a}.rope.freq_base", 10000.0)
        self.softcap = self.kv(f"{a}.final_logit_softcapping", 0.0)
        for key in (f"{a}.rope.scaling.type", f"{a}.rope.scaling.factor",
                    f"{a}.attention.sliding_window_pattern", f"{a}.attn_logit_softcapping"):
            val = self.kv(key, None)
            if val not in (None, "none", 1.0, 0.0):
                raise NotImplementedError(f"f64: {key} = {val!r} is not implemented")
        self.tensors = {t.name: t for t in self.r.tensors}
        if "rope_freqs.weight" in self.tensors:
            raise NotImplementedError("f64: rope_freqs.weight (Llama-3 rope scaling) is not implemented")
        if a == "gemma3":
            self.window = self.kv("gemma3.attention.sliding_window", 0)
            self.base_swa = self.kv("gemma3.rope.freq_base_swa", 10000.0)
            self.neox = True
            # llama.cpp: 1/sqrt(key_length) on the query (the 27B alone uses n_embd/n_head:
            # gemma's query_pre_attn_scalar, which the GGUF does not store).
            self.q_scale = 1.0 / math.sqrt(self.head_dim if self.n_layer != 62
                                           else self.n_embd // self.n_head)
        else:
            self.window = 0
            self.neox = False
            self.q_scale = 1.0 / math.sqrt(self.head_dim)
        self.out_name = "output.weight" if "output.weight" in self.tensors else "token_embd.weight"
        self._w = {}

    def kv(self, key, default=KeyError):
        f = self.r.fields.get(key)
        if f is None:
            if default is KeyError:
                raise KeyError(f"f64: the file has no {key}")
            return default
        t = f.types[0]
        if t == self._VT.STRING:
            return bytes(f.parts[f.data[0]]).decode()
        if t == self._VT.ARRAY:
            return [f.parts[i].tolist() for i in f.data]
        v = f.parts[f.data[0]][0]
        return bool(v) if t == self._VT.BOOL else v.item()

    def w(self, name):
        """float32 [rows][cols] (GGUF ne1 x ne0), decoded once and kept."""
        if name not in self._w:
            from gguf.quants import dequantize
            t = self.tensors[name]
            a = dequantize(t.data, t.tensor_type).astype(np.float32, copy=False)
            shape = tuple(int(x) for x in reversed(t.shape))
            self._w[name] = a.reshape(shape)
        return self._w[name]

    def mm(self, x, name):
        return x @ self.w(name).astype(np.float64).T

    def norm(self, x, name):
        x = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps)
        return x * self.w(name).astype(np.float64)

    def rope(self, x, pos, base):
        """x [n][heads][d]; rotates the first n_rot dims of each head."""
        d = self.n_rot
        inv = base ** (-np.arange(0, d, 2, dtype=np.float64) / d)      # [d/2]
        ang = pos[:, None].astype(np.float64) * inv[None, :]            # [n][d/2]
        cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        y = x.copy()
        if self.neox:  # pairs (i, i + d/2)
            a, b = x[..., : d // 2], x[..., d // 2: d]
            y[..., : d // 2] = a * cos - b * sin
            y[..., d // 2: d] = a * sin + b * cos
        else:          # adjacent pairs (2i, 2i+1)
            a, b = x[..., 0:d:2], x[..., 1:d:2]
            y[..., 0:d:2] = a * cos - b * sin
            y[..., 1:d:2] = a * sin + b * cos
        return y

    def attention(self, x, il, pos):
        n, H, KV, hd = x.shape[0], self.n_head, self.n_head_kv, self.head_dim
        p = f"blk.{il}."
        q = self.mm(x, p + "attn_q.weight").reshape(n, H, hd)
        k = self.mm(x, p + "attn_k.weight").reshape(n, KV, hd)
        v = self.mm(x, p + "attn_v.weight").reshape(n, KV, self.v_dim)
        base = self.base
        swa = False
        if self.arch == "gemma3":
            q = self.norm(q, p + "attn_q_norm.weight")
            k = self.norm(k, p + "attn_k_norm.weight")
            swa = self.window > 0 and (il % 6) < 5
            if swa:
                base = self.base_swa
        q = self.rope(q, pos, base) * self.q_scale
        k = self.rope(k, pos, base)
        i, j = np.arange(n)[:, None], np.arange(n)[None, :]
        masked = j > i
        if swa:
            masked |= (i - j) >= self.window
        out = np.empty((n, H, self.v_dim))
        g = H // KV
        for h in range(H):
            s = q[:, h, :] @ k[:, h // g, :].T
            s[masked] = -np.inf
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
            out[:, h, :] = s @ v[:, h // g, :]
        return self.mm(out.reshape(n, H * self.v_dim), p + "attn_output.weight")

    def forward(self, ids):
        ids = np.asarray(ids)
        if ids.min() < 0 or ids.max() >= self.w("token_embd.weight").shape[0]:
            raise ValueError("token id out of range")
        pos = np.arange(len(ids))
        x = self.w("token_embd.weight")[ids].astype(np.float64)
        gemma = self.arch == "gemma3"
        if gemma:
            x = x * math.sqrt(self.n_embd)
        for il in range(self.n_layer):
            p = f"blk.{il}."
            a = self.attention(self.norm(x, p + "attn_norm.weight"), il, pos)
            if gemma:
                a = self.norm(a, p + "post_attention_norm.weight")
            x = x + a
            h = self.norm(x, p + "ffn_norm.weight")
            gate, up = self.mm(h, p + "ffn_gate.weight"), self.mm(h, p + "ffn_up.weight")
            if gemma:  # GELU, tanh approximation
                act = 0.5 * gate * (1 + np.tanh(math.sqrt(2 / math.pi) * (gate + 0.044715 * gate ** 3)))
            else:      # SiLU
                act = gate / (1 + np.exp(-gate))
            f = self.mm(act * up, p + "ffn_down.weight")
            if gemma:
                f = self.norm(f, p + "post_ffw_norm.weight")
            x = x + f
        x = self.norm(x, "output_norm.weight")
        E = self.w(self.out_name)
        logits = np.empty((len(ids), E.shape[0]))
        for c in range(0, E.shape[0], 16384):
            logits[:, c:c + 16384] = x @ E[c:c + 16384].astype(np.float64).T
        if self.softcap:
            logits = self.softcap * np.tanh(logits / self.softcap)
        return logits


# ---------------------------------------------------------------------------------------------

CHECK_PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
    "Once upon a time, in a small village by the sea, there lived",
    "1, 2, 3, 5, 8, 13, 21,",
    "Translate to German: I would like a cup of coffee, please.",
]


def write_rows(out, rows):
    if out is None:
        return None
    off = out.tell()
    out.write(np.ascontiguousarray(rows).astype(rows.dtype.newbyteorder("<"), copy=False).tobytes())
    out.flush()
    return off


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cmd", choices=["tokenize", "detokenize", "info", "logits", "greedy", "f64",
                                    "check", "template"])
    ap.add_argument("--model", required=True)
    ap.add_argument("--add-special", action="store_true")
    ap.add_argument("--parse-special", action="store_true")
    ap.add_argument("--special", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    ap.add_argument("--max", type=int, default=32)
    ap.add_argument("--no-stop", action="store_true")
    ap.add_argument("--n", type=int, default=len(CHECK_PROMPTS))
    ap.add_argument("--min-agree", type=float, default=0.95)
    ap.add_argument("--max-kl", type=float, default=0.1)
    args = ap.parse_args()
    if not os.path.isfile(args.model):
        die(f"no such model file: {args.model}")

    cmd = args.cmd
    if cmd == "template":
        return cmd_template(args)
    if cmd == "f64":
        m = F64Model(args.model)
        out = open(args.out, "wb") if args.out else None
        for req in requests():
            try:
                z = m.forward(as_ids(req))
                emit({"n": len(z), "n_vocab": z.shape[1], "top1": z.argmax(axis=1).tolist(),
                      "offset": write_rows(out, z.astype(np.float64))})
            except Exception as e:  # noqa: BLE001 - reported per request
                emit({"error": str(e)})
        return 0

    ll = LlamaCpp(args.model, vocab_only=cmd in ("tokenize", "detokenize"), threads=args.threads)
    if cmd == "info":
        emit(ll.info())
        return 0
    if cmd == "check":
        return cmd_check(args, ll)
    out = open(args.out, "wb") if cmd == "logits" and args.out else None
    for req in requests():
        try:
            if cmd == "tokenize":
                if isinstance(req, str):
                    data = req.encode("utf-8")
                elif isinstance(req, dict) and "hex" in req:
                    data = bytes.fromhex(req["hex"])
                else:
                    raise ValueError('expected a JSON string or {"hex": ...}')
                emit(ll.tokenize(data, args.add_special, args.parse_special))
            elif cmd == "detokenize":
                b = b"".join(ll.piece(t, args.special) for t in as_ids(req))
                emit({"hex": b.hex(), "text": b.decode("utf-8", "replace")})
            elif cmd == "logits":
                z = ll.logits(as_ids(req))
                emit({"n": len(z), "n_vocab": z.shape[1], "top1": z.argmax(axis=1).tolist(),
                      "offset": write_rows(out, z)})
            elif cmd == "greedy":
                ids, eog = ll.greedy(as_ids(req), args.max, not args.no_stop)
                emit({"ids": ids, "eog": eog})
        except Exception as e:  # noqa: BLE001 - reported per request
            emit({"error": str(e)})
    return 0


def cmd_check(args, ll):
    m = F64Model(args.model)
    add_bos = bool(ll.C.llama_vocab_get_add_bos(ll.vocab))
    agree = total = 0
    worst_rel = worst_kl = 0.0
    for text in CHECK_PROMPTS[: args.n]:
        ids = ll.tokenize(text.encode(), add_bos, False)
        zl = ll.logits(ids).astype(np.float64)
        zf = m.forward(ids)
        a = int((zl.argmax(1) == zf.argmax(1)).sum())
        rel = float(np.abs(zl - zf).max() / np.abs(zf).max())
        lf, lq = log_softmax(zf), log_softmax(zl)
        kl = float((np.exp(lf) * (lf - lq)).sum(axis=1).max())
        agree, total = agree + a, total + len(ids)
        worst_rel, worst_kl = max(worst_rel, rel), max(worst_kl, kl)
        emit({"prompt": text, "n": len(ids), "top1_agree": a, "max_rel_diff": rel, "max_kl": kl})
    ok = agree / total >= args.min_agree and worst_kl <= args.max_kl
    emit({"summary": True, "ok": ok, "positions": total, "top1_agree": agree,
          "top1_agree_fraction": agree / total, "max_rel_diff": worst_rel, "max_kl": worst_kl})
    return 0 if ok else 1


def cmd_template(args):
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from gguf import GGUFReader
    r = GGUFReader(args.model)

    def s(key):
        f = r.fields.get(key)
        return None if f is None else f.parts[f.data[0]]

    tmpl_f = r.fields.get("tokenizer.chat_template")
    if tmpl_f is None:
        die("the file has no tokenizer.chat_template")
    tmpl = bytes(tmpl_f.parts[tmpl_f.data[0]]).decode()
    tokens = r.fields["tokenizer.ggml.tokens"]

    def tok_text(key):
        v = s(key)
        return None if v is None else bytes(tokens.parts[tokens.data[int(v[0])]]).decode()

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.globals["raise_exception"] = raise_exception
    t = env.from_string(tmpl)
    for req in requests():
        try:
            ctx = {"bos_token": tok_text("tokenizer.ggml.bos_token_id"),
                   "eos_token": tok_text("tokenizer.ggml.eos_token_id"),
                   "add_generation_prompt": False}
            ctx.update(req)
            emit(t.render(**ctx))
        except Exception as e:  # noqa: BLE001 - reported per request
            emit({"error": str(e)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
