#!/usr/bin/env bash
# Requantized models and their llama.cpp references (scripts/quants.py; models/quants.json lists
# the types): makes the venv build/llama-venv the first time (llama-cpp-python builds llama.cpp
# from source, ~8 minutes on 2 cores), reuses it after, and skips every file whose inputs are
# unchanged. usage: scripts/quants.sh [--force] [--only NAME[,NAME...]]
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=build/llama-venv
PINS=(llama-cpp-python==0.3.36 numpy gguf==0.19.0)
# The venv is ready when it imports the pinned versions.
ready() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as m, numpy, gguf, llama_cpp
assert m.version("llama_cpp_python") == "0.3.36" and m.version("gguf") == "0.19.0"
PY
}
if ! ready; then
  echo "quants: making $VENV (llama-cpp-python 0.3.36 builds llama.cpp from source: minutes)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$VENV/bin/pip" install --quiet "${PINS[@]}"
  ready || { echo "error: $VENV does not import llama_cpp 0.3.36, numpy and gguf 0.19.0 after installing them" >&2; exit 1; }
fi
exec "$VENV/bin/python" scripts/quants.py "$@"
