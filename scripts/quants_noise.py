"""How far llama.cpp is from itself: each requantized file's reference (models/quants/<name>.ref.json,
flash attention off) against llama.cpp on the same file with flash attention ON, teacher-forced
with the reference's tokens and judged by tests/quants.rs's (= tests/parity.rs's) criteria. Two
legitimate float orders of one implementation: a yardstick for the engine's numbers, not a test.

usage: build/llama-venv/bin/python scripts/quants_noise.py [--only NAME[,NAME...]]   (after scripts/quants.sh)
"""
import argparse
import json
import os
import sys

import numpy as np
from llama_cpp import Llama

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quants import OUT, eog_ids, last_logits, no_extra_buffer_types, read_json  # noqa: E402


def percentile(v, p):
    v = sorted(v)
    return v[int(round((len(v) - 1) * p))]


def case_stats(llm, case, eog):
    llm.reset()
    llm.eval(case["prompt_ids"])
    absd, centred, strong, strong_ok, medium, medium_ok = [], [], 0, 0, 0, 0
    for i, p in enumerate(case["positions"]):
        row = np.asarray(last_logits(llm), dtype=np.float32)
        diffs = [float(row[j]) - t for j, t in zip(p["top_ids"], p["top_logits"])]
        mean = sum(diffs) / len(diffs)
        absd += [abs(d) for d in diffs]
        centred += [abs(d - mean) for d in diffs]
        masked = row.copy()
        masked[eog] = -np.inf
        top1 = int(np.argmax(masked))
        if p["margin"] >= 1:
            strong += 1
            strong_ok += top1 == p["chosen_id"]
        if p["margin"] >= 0.3:
            medium += 1
            medium_ok += top1 == p["chosen_id"]
        if i < len(case["positions"]) - 1:
            llm.eval([case["token_ids"][i]])
    return (f"{case['name']}: median |Δ| {percentile(absd, 0.5):.3f}, offset-removed p99 {percentile(centred, 0.99):.3f}, "
            f"top-1 {strong_ok}/{strong} (margin ≥ 1), {medium_ok}/{medium} (margin ≥ 0.3)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    only = {x for x in a.only.split(",") if x}
    m = read_json(os.path.join(OUT, "manifest.json"))
    if m is None:
        raise SystemExit("models/quants/manifest.json is missing: run scripts/quants.sh")
    no_extra_buffer_types()
    for f in m["files"]:
        if only and f["name"] not in only:
            continue
        ref = read_json(os.path.join(OUT, f["reference"]))
        llm = Llama(model_path=os.path.join(OUT, f["file"]), n_ctx=2048, n_batch=512, n_threads=1, n_threads_batch=1,
                    logits_all=False, seed=0, verbose=False, flash_attn=True)
        eog = eog_ids(llm)
        lines = [case_stats(llm, c, eog) for c in ref["generate"]]
        print(f"{f['name']} (flash attention on vs off): " + "; ".join(lines), flush=True)
        del llm


if __name__ == "__main__":
    main()
