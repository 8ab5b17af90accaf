# Makes tests/common/gemma-long700.json: llama.cpp (llama-cpp-python 0.3.36, plain CPU kernels, 1 thread, flash
# attention off) on a 700-token prompt (the start of README.md, BOS added), greedy 24 tokens with top-5 logits: past
# Gemma 3's sliding window of 512. Run from the repository root: build/llama-venv/bin/python tests/common/gemma_long.py
import json, sys
sys.path.insert(0, 'scripts')
import numpy as np
import quants as Q
from llama_cpp import Llama
Q.no_extra_buffer_types()
llm = Llama(model_path='models/gemma-3-270m-q4_k_m.gguf', n_ctx=2048, n_batch=512, n_threads=1, n_threads_batch=1, logits_all=False, seed=0, verbose=False, flash_attn=False)
text = open('README.md').read()[:6000]
ids = llm.tokenize(text.encode(), add_bos=True, special=False)[:700]
ref = json.load(open('/work/shared/reference/gemma-3-270m-q4_k_m.json'))
mask = np.zeros(llm.n_vocab(), dtype=bool); mask[ref['eog_token_ids']] = True
llm.reset(); llm.eval(ids)
out, pos = [], []
for i in range(24):
    row = np.asarray(Q.last_logits(llm), dtype=np.float64)
    masked = np.where(mask, -np.inf, row)
    two = np.partition(masked, -2)[-2:]
    idx = np.argsort(-row, kind='stable')[:5]
    tok = int(np.argmax(masked))
    pos.append({'top_ids': [int(j) for j in idx], 'top_logits': [round(float(row[j]),4) for j in idx], 'margin': round(float(two[1]-two[0]),4), 'chosen_id': tok})
    out.append(tok)
    llm.eval([tok])
json.dump({'eog_token_ids': ref['eog_token_ids'], 'generate': [{'name': 'long700', 'prompt_ids': ids, 'token_ids': out, 'positions': pos}]}, open('tests/common/gemma-long700.json', 'w'))
print(len(ids), llm.detokenize(out).decode('utf-8','replace'))
