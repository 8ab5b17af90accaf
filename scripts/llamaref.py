"""What scripts/quants.py and scripts/archs.py share: file and JSON helpers, and llama.cpp run the
way every reference of this repository is made (llama-cpp-python, plain CPU kernels, 1 thread,
flash attention off, greedy with the end-of-generation ids masked, the top-5 raw logits at every
position: the layout of ../shared/reference/*.json, made by ../shared/peers/llamacpp/reference.py).
"""

import contextlib
import hashlib
import json
import os
import sys

import numpy as np
import llama_cpp
from llama_cpp import Llama

TOP_K = 5


def logger(prefix):
    def log(msg):
        print(f"{prefix}: {msg}", file=sys.stderr, flush=True)
    return log


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_json(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_json(path, obj, compact=False):
    tmp = path + ".part"
    with open(tmp, "w", encoding="utf-8") as f:
        if compact:
            json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        else:
            json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(tmp, path)


@contextlib.contextmanager
def stderr_to(path):
    """llama.cpp prints every tensor it quantizes (and much else) on fd 2: into a log."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "w") as f:
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def no_extra_buffer_types():
    """llama.cpp's plain CPU kernels only: no AMX, no repacked weights (llama_model_params
    use_extra_bufts = false). A llama.cpp built natively on a CPU that reports AMX uses AMX tiles
    for its matrix products, which trap (SIGILL, at `tilezero`) in VMs that advertise AMX without
    running it (seen on this project's CI machines); the repacked kernels exist on some CPUs and not
    others. llama-cpp-python 0.3.36 has no argument for it, so its default params are wrapped."""
    from llama_cpp import llama_cpp as lib
    default = lib.llama_model_default_params
    if getattr(default, "plumbing", False):
        return

    def params():
        p = default()
        p.use_extra_bufts = False
        return p
    params.plumbing = True
    lib.llama_model_default_params = params


def open_model(path, n_ctx):
    """llama.cpp on `path` as every reference here runs it; returns (llm, eog ids, eog mask)."""
    no_extra_buffer_types()
    llm = Llama(model_path=path, n_ctx=n_ctx, n_batch=512, n_threads=1, n_threads_batch=1,
                logits_all=False, seed=0, verbose=False, flash_attn=False)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    eog = [t for t in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t)]
    mask = np.zeros(llm.n_vocab(), dtype=bool)
    mask[eog] = True
    return llm, eog, mask


def last_logits(llm):
    """The logits of the last evaluated position, read from llama.cpp's buffer (llama-cpp-python
    0.3.36 copies them into Llama.scores only with logits_all)."""
    ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),))


def generate(llm, prompt, n_predict, eog_mask):
    """Greedy, EOG masked, the top-5 of the raw logits at every position (the prompt tokenized
    with special tokens parsed and no BOS added: prompts carry their own)."""
    ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    llm.reset()
    llm.eval(ids)
    out, positions = [], []
    for i in range(n_predict):
        row = np.asarray(last_logits(llm), dtype=np.float64)
        masked = np.where(eog_mask, -np.inf, row)
        tok = int(np.argmax(masked))
        two = np.partition(masked, -2)[-2:]
        idx = np.argsort(-row, kind="stable")[:TOP_K]
        m = row.max()
        positions.append({
            "top_ids": [int(j) for j in idx],
            "top_logits": [round(float(row[j]), 4) for j in idx],
            "logsumexp": round(float(m + np.log(np.exp(row - m).sum())), 4),
            "margin": round(float(two[1] - two[0]), 4),
            "chosen_id": tok,
        })
        out.append(tok)
        if i < n_predict - 1:
            llm.eval([tok])
    text = llm.detokenize(out, special=True).decode("utf-8", "replace")
    return {"prompt": prompt, "prompt_ids": ids, "n_predict": n_predict,
            "token_ids": out, "text": text, "positions": positions}
