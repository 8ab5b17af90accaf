"""How far llama.cpp is from itself on the synthetic models: each reference of models/archs/
(flash attention off) against llama.cpp on the same file with flash attention ON, teacher-forced
and judged by the parity criteria, as scripts/quants_noise.py does for the requantized files. A
yardstick for tests/archs.rs's numbers (and for the synthetic weights' design), not a test.

usage: build/llama-venv/bin/python scripts/archs_noise.py   (after scripts/archs.sh)
"""
import os
import sys

from llama_cpp import Llama

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from archs import OUT  # noqa: E402
from quants import eog_ids, no_extra_buffer_types, read_json  # noqa: E402
from quants_noise import case_stats  # noqa: E402


def main():
    m = read_json(os.path.join(OUT, "manifest.json"))
    if m is None:
        raise SystemExit(f"{OUT}/manifest.json is missing: run scripts/archs.sh")
    no_extra_buffer_types()
    for f in m["files"]:
        for file, ref_name in ((f["file"], f["reference"]), (f["source"], f["reference_f16"])):
            ref = read_json(os.path.join(OUT, ref_name))
            llm = Llama(model_path=os.path.join(OUT, file), n_ctx=1024, n_batch=512, n_threads=1, n_threads_batch=1,
                        logits_all=False, seed=0, verbose=False, flash_attn=True)
            eog = eog_ids(llm)
            print(f"{file} (flash attention on vs off): " + "; ".join(case_stats(llm, c, eog) for c in ref["generate"]),
                  flush=True)
            del llm


if __name__ == "__main__":
    main()
