"""Requantized SmolLM2 files and their llama.cpp references, for tests/quants.rs and
tests/browser/quants.test.mjs (issue 10: every GGUF quant type, agreeing with llama.cpp).

For each entry of models/quants.json, in models/quants/:
  SmolLM2-135M-Instruct.<name>.gguf  llama.cpp's quantizer (llama_model_quantize, default params,
                                     allow_requantize, the entry's ftype, nthread from the list)
                                     applied to models/SmolLM2-135M-Instruct.Q4_1.gguf
  <name>.ref.json                    llama.cpp (1 thread, flash attention off) on that file: for
                                     every generate case of the Q4_1 golden file (same prompts,
                                     same n_predict) the greedy ids (EOG masked) and the top-5
                                     logits, logsumexp and top-1 margin at every position; the
                                     layout of tests/golden/*.json
  <name>.dequant.bin / .json         the gguf package's numpy dequantization (gguf.quants) of a
                                     few rows of the first and last tensor of every type in the
                                     file: f32 little endian, the rows one after another; the
                                     .json says which tensor, rows and offset
  manifest.json                      every file: name, bytes, sha256, its type mix (tensors per
                                     ggml type, read with gguf.GGUFReader), and the files above

Nothing here is committed: the bytes llama.cpp writes may differ between CPUs, so a machine makes
the files and their references in the same run. Work is skipped when its inputs are unchanged
(the source's and the file's sha256, the entry, this script's VERSION, llama-cpp-python's
version), so a second run costs the time to hash the files.

usage: build/llama-venv/bin/python scripts/quants.py [--force] [--only NAME[,NAME...]]
(scripts/quants.sh makes the venv and runs this.)
"""
import argparse
import collections
import ctypes
import importlib.metadata
import os
import time

import numpy as np
import gguf
import llama_cpp

import llamaref
from llamaref import generate, open_model, read_json, sha256_json, sha256_of, stderr_to, write_json

# Bump when what a stage writes changes (the files are then made again).
VERSION = 1

log = llamaref.logger("quants")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIST = os.path.join(ROOT, "models", "quants.json")
OUT = os.path.join(ROOT, "models", "quants")
GOLDEN = os.path.join(ROOT, "tests", "golden", "smollm2-135m-instruct-q4_1.json")
STEM = "SmolLM2-135M-Instruct"


# ------------------------------------------------------------------------------------------------
# The stages
# ------------------------------------------------------------------------------------------------

def quantize(src, dst, entry, nthread, logfile):
    name = "LLAMA_FTYPE_MOSTLY_" + entry["ftype"]
    if not hasattr(llama_cpp, name):
        raise SystemExit(f"models/quants.json: {entry['name']}: llama-cpp-python {llama_cpp.__version__} has no {name}")
    p = llama_cpp.llama_model_quantize_default_params()
    p.nthread = nthread
    p.ftype = getattr(llama_cpp, name)
    p.allow_requantize = True
    p.pure = bool(entry.get("pure", False))
    part = dst + ".part"
    with stderr_to(logfile):
        rc = llama_cpp.llama_model_quantize(src.encode(), part.encode(), ctypes.byref(p))
    if rc != 0:
        raise SystemExit(f"llama_model_quantize {entry['name']} returned {rc}; see {logfile}")
    os.replace(part, dst)


def type_mix(reader):
    c = collections.Counter(t.tensor_type.name for t in reader.tensors)
    return dict(sorted(c.items()))


def tensor_rows(reader, t):
    """(rows, cols, row bytes, the tensor's bytes as uint8)."""
    cols = int(t.shape[0])
    rows = int(t.n_elements) // cols
    raw = reader.data[t.data_offset:t.data_offset + t.n_bytes]
    return rows, cols, int(t.n_bytes) // rows, raw


def dequant_dump(path, bin_path):
    """A few rows of the first and last tensor of every type, dequantized by gguf.quants (numpy)."""
    reader = gguf.GGUFReader(path)
    by_type = collections.defaultdict(list)
    for t in reader.tensors:
        by_type[t.tensor_type.name].append(t)
    entries, offset = [], 0
    with open(bin_path + ".part", "wb") as out:
        for ty in sorted(by_type):
            ts = by_type[ty]
            for t in ts[:1] + ts[1:][-1:]:  # the first and last (one when the type has one tensor)
                rows, cols, row_bytes, raw = tensor_rows(reader, t)
                pick = sorted({0, 1, rows // 2, rows - 1} & set(range(rows)))
                for r in pick:
                    v = gguf.quants.dequantize(np.asarray(raw[r * row_bytes:(r + 1) * row_bytes]), t.tensor_type)
                    v = np.ascontiguousarray(v, dtype="<f4").reshape(-1)
                    if v.size != cols:
                        raise SystemExit(f"{path}: {t.name} row {r}: gguf dequantized {v.size} values, not {cols}")
                    out.write(v.tobytes())
                entries.append({"tensor": t.name, "type": ty, "cols": cols, "rows": pick, "offset": offset})
                offset += len(pick) * cols
    os.replace(bin_path + ".part", bin_path)
    return entries, offset


def reference(path, sha, cases, inputs):
    llm, eog, mask = open_model(path, n_ctx=2048)
    res = {
        "what": f"llama.cpp greedy decoding of {os.path.basename(path)} (requantized by scripts/quants.py), "
                "1 thread, flash attention off; end-of-generation ids masked during decoding",
        "model": {"file": os.path.basename(path), "sha256": sha},
        "producer": f"llama-cpp-python {llama_cpp.__version__}, plain CPU kernels (use_extra_bufts off: no AMX, no repacking)",
        "inputs": inputs,
        "eog_token_ids": eog,
        "positions_note": "positions[i] holds the logits that chose token_ids[i]: after the prompt "
                          "and the first i generated tokens. margin = chosen logit minus the best "
                          "other non-EOG logit.",
        "generate": [],
    }
    for c in cases:
        r = generate(llm, c["prompt"], c["n_predict"], mask)
        res["generate"].append({"name": c["name"], **r})
    del llm
    return res


# ------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--force", action="store_true", help="make everything again")
    ap.add_argument("--only", default="", help="comma list of names from models/quants.json")
    a = ap.parse_args()

    spec = read_json(LIST)
    if spec is None:
        raise SystemExit(f"{LIST} is missing or not JSON")
    src = os.path.join(ROOT, spec["source"])
    if not os.path.exists(src):
        raise SystemExit(f"{src} is missing: run ./build.sh model")
    golden = read_json(GOLDEN)
    if golden is None:
        raise SystemExit(f"{GOLDEN} is missing or not JSON")
    cases = [{"name": c["name"], "prompt": c["prompt"], "n_predict": c["n_predict"]} for c in golden["generate"]]
    only = {x for x in a.only.split(",") if x}
    unknown = only - {e["name"] for e in spec["quants"]}
    if unknown:
        raise SystemExit(f"--only: {sorted(unknown)} not in models/quants.json")
    os.makedirs(OUT, exist_ok=True)

    t_all = time.perf_counter()
    src_sha = sha256_of(src)
    manifest_path = os.path.join(OUT, "manifest.json")
    old = {f["name"]: f for f in (read_json(manifest_path) or {}).get("files", [])}
    files = []
    for entry in spec["quants"]:
        name = entry["name"]
        if only and name not in only:
            if name in old:
                files.append(old[name])
            continue
        gguf_name = f"{STEM}.{name}.gguf"
        path = os.path.join(OUT, gguf_name)
        t0 = time.perf_counter()
        did = []

        # 1. The file, made again when the source, the entry, the llama.cpp or VERSION changed.
        q_inputs = {"version": VERSION, "source_sha256": src_sha, "entry": entry, "nthread": spec["nthread"],
                    "llama_cpp_python": llama_cpp.__version__}
        prev = old.get(name)
        sha = sha256_of(path) if os.path.exists(path) else None
        if a.force or prev is None or prev.get("inputs") != q_inputs or prev.get("sha256") != sha:
            quantize(src, path, entry, spec["nthread"], os.path.join(OUT, f"{name}.quantize.log"))
            sha = sha256_of(path)
            prev = None
            did.append("quantized")
        if prev is not None:
            info = prev
        else:
            reader = gguf.GGUFReader(path)
            info = {"name": name, "file": gguf_name, "bytes": os.path.getsize(path), "sha256": sha,
                    "types": type_mix(reader), "tensors": len(reader.tensors),
                    "reference": f"{name}.ref.json", "dequant": f"{name}.dequant.json", "inputs": q_inputs}
            del reader

        # 2. The gguf package's dequantization of a few rows of every type.
        d_inputs = {"version": VERSION, "sha256": sha, "gguf": importlib.metadata.version("gguf"),
                    "numpy": np.__version__}
        d_json = os.path.join(OUT, info["dequant"])
        d_bin = d_json[:-len(".json")] + ".bin"
        prev_d = read_json(d_json)
        if a.force or prev_d is None or prev_d.get("inputs") != d_inputs or not os.path.exists(d_bin) \
                or os.path.getsize(d_bin) != 4 * prev_d.get("values", -1):
            entries, n = dequant_dump(path, d_bin)
            write_json(d_json, {"what": f"gguf.quants.dequantize (numpy) of {gguf_name}: f32 little endian in "
                                        f"{os.path.basename(d_bin)}, for each tensor its rows one after another "
                                        "from offset (in values)",
                                "file": gguf_name, "inputs": d_inputs, "values": n, "tensors": entries})
            did.append("dequantized")

        # 3. llama.cpp's reference on this very file.
        r_inputs = {"version": VERSION, "sha256": sha, "cases_sha256": sha256_json(cases),
                    "llama_cpp_python": llama_cpp.__version__}
        r_path = os.path.join(OUT, info["reference"])
        prev_r = read_json(r_path)
        if a.force or prev_r is None or prev_r.get("inputs") != r_inputs:
            write_json(r_path, reference(path, sha, cases, r_inputs), compact=True)
            did.append("referenced")

        files.append(info)
        # Written after every file, so an interrupted run keeps what it finished.
        write_json(manifest_path, manifest(spec, src_sha, files))
        mix = ", ".join(f"{k} {v}" for k, v in info["types"].items())
        log(f"{name}: {info['bytes']:,} bytes ({mix}); {' + '.join(did) or 'up to date'} in {time.perf_counter() - t0:.1f} s")
    write_json(manifest_path, manifest(spec, src_sha, files))
    log(f"{len(files)} files in models/quants/ ({time.perf_counter() - t_all:.1f} s)")


def manifest(spec, src_sha, files):
    return {
        "what": "Requantized SmolLM2 files made here by scripts/quants.py (from models/quants.json); "
                "never committed. tests/quants.rs and tests/browser/quants.test.mjs read this.",
        "source": {"file": spec["source"], "sha256": src_sha},
        "producer": {"llama_cpp_python": llama_cpp.__version__,
                     "system_info": llama_cpp.llama_print_system_info().decode().strip()},
        "files": files,
    }


if __name__ == "__main__":
    main()
