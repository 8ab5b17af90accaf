#!/usr/bin/env python3
"""Hard texts for the tokenizers, tokenized by llama.cpp (llama-cpp-python, vocab only): the
golden file tests/golden/tokenizers-hard.json that tests/tokenizers.rs checks against.

    build/llama-venv/bin/python scripts/tokenizers_hard.py models/gemma-3-270m-q4_k_m.gguf \
        build/deepseek-header.gguf tests/golden/tokenizers-hard.json

The DeepSeek header (metadata and tensor index, no tensor data) is copied into a tokenizer-only
GGUF first, which llama.cpp loads with vocab_only."""
import json, sys, tempfile, os
import llama_cpp
from gguf import GGUFReader, GGUFWriter, GGUFValueType


def tokenizer_only(src, dst):
    GGUFReader._build_tensors = lambda self, offs, fields: setattr(self, "tensors", [])
    r = GGUFReader(src)
    w = GGUFWriter(dst, "qwen2")
    for k, f in r.fields.items():
        if not k.startswith("tokenizer"):
            continue
        t = f.types[0]
        if t == GGUFValueType.ARRAY:
            if f.types[1] == GGUFValueType.STRING:
                w.add_array(k, [bytes(f.parts[i]).decode("utf-8", "surrogateescape") for i in f.data])
            else:
                w.add_array(k, [f.parts[i].tolist()[0] for i in f.data])
        elif t == GGUFValueType.STRING:
            w.add_string(k, bytes(f.parts[-1]).decode())
        elif t == GGUFValueType.BOOL:
            w.add_bool(k, bool(f.parts[-1][0]))
        else:
            w.add_uint32(k, int(f.parts[-1][0]))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

TEXTS = [
    ("spaces_runs", "a  b   c    d\t\te\n \n  \n\n\nf   "),
    ("leading_trailing", "   hello world   "),
    ("only_newlines", "\n\n\n\n"),
    ("digits", "0 12 345 6789 01234 3.14159 1,000,000 2024-12-01 ４５６"),
    ("cjk", "东京是日本的首都。深度求索 東京は日本の首都です。 서울은 한국의 수도입니다."),
    ("emoji", "👋🏽 hi 🇫🇷 👨‍👩‍👧‍👦 ❤️ 🦀🦀🦀"),
    ("contractions", "I'm you're he's we've they'll I'd DON'T Can't it’s"),
    ("code", "def f(x):\n\treturn {'a': [1, 2]}  # ok\n\nif (a&&b||c) { x->y = *p; }"),
    ("mixed_scripts", "Привет, мир! Γειά σου Κόσμε. مرحبا بالعالم. नमस्ते दुनिया"),
    ("punctuation", "...!!!???---***((([[[{{{}}}]]])))\"''\"«»„“"),
    ("accents_combining", "e\u0301 n\u0303 cafe\u0301 Ångström ﬁ ﬂ"),
    ("long_word", "Pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism"),
    ("urls", "https://example.com/path?q=1&r=2#frag user@example.org"),
    ("control_chars", "a\u0000b\u0007c\u001bd\u007fe"),
    ("think", "<think>\nLet me think.\n</think>\n\nThe answer is 4."),
]
SPECIAL = {
    "gemma": [
        ("special_inside", "Hi<start_of_turn>user\nyo<end_of_turn>there<bos>x<eos>"),
        ("special_glued", "a<end_of_turn><start_of_turn>b  <unused0>c"),
        ("bos_prompt", "<bos>The capital of France is"),
    ],
    "deepseek": [
        ("special_inside", "Hi<｜User｜>yo<｜Assistant｜><think>\nhm</think>x<｜end▁of▁sentence｜>"),
        ("special_glued", "a<|im_start|><|im_end|><｜begin▁of▁sentence｜>b  <think>c"),
        ("bos_prompt", "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>"),
    ],
}
out = {"what": "llama.cpp tokenization of hard texts (scripts/tokenizers_hard.py): ids = tokenize(text, add_bos=False, special=True); plain_ids = the same with special=False",
       "producer": "llama-cpp-python " + llama_cpp.__version__, "models": {}}
ds = os.path.join(tempfile.mkdtemp(), "deepseek-tokenizer.gguf")
tokenizer_only(sys.argv[2], ds)
for name, path in [("gemma", sys.argv[1]), ("deepseek", ds)]:
    m = llama_cpp.Llama(path, vocab_only=True, verbose=False)
    cases = []
    for n, t in TEXTS + SPECIAL[name]:
        b = t.encode()
        cases.append({"name": n, "text": t, "ids": m.tokenize(b, add_bos=False, special=True),
                      "plain_ids": m.tokenize(b, add_bos=False, special=False),
                      "with_bos": m.tokenize(b, add_bos=True, special=True)})
    out["models"][name] = cases
json.dump(out, open(sys.argv[3], "w"), ensure_ascii=False, indent=1)
