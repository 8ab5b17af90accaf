#!/usr/bin/env bash
# Fuzzes the model loader for [seconds] (default 60): arbitrary bytes through Gguf::read,
# Tokenizer::from_gguf, Model::load and a few generated tokens (fuzz/fuzz_targets/load.rs).
# Seeds: the crafted files of tests/bad_files.rs (written to target/crafted/ by that test).
# A crash is saved in fuzz/artifacts/load/; turn it into a regression test in tests/bad_files.rs
# (include_bytes! is not needed: paste the bytes or the mutation that builds them).
# Usage: scripts/fuzz.sh [seconds] [extra libFuzzer flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
shift || true
export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "== installing the nightly toolchain (cargo fuzz needs -Zsanitizer)" >&2
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked || cargo install cargo-fuzz
fi

echo "== writing the crafted files (seeds)" >&2
cargo test --release --test bad_files write_crafted_files -- --quiet >/dev/null
CORPUS=fuzz/corpus/load
mkdir -p "$CORPUS" fuzz/artifacts/load
# Seeds up to 128 KB (the tiny models and their mutations); the fuzzer grows the corpus from here.
find target/crafted -name '*.gguf' -size -128k -exec cp -n {} "$CORPUS/" \;

echo "== fuzzing for ${SECONDS_TO_RUN}s" >&2
# -rss_limit_mb: a file that makes the loader allocate far more than its own size is a bug too.
cargo +nightly fuzz run load "$CORPUS" -- \
  -max_total_time="$SECONDS_TO_RUN" -max_len=131072 -rss_limit_mb=2048 -timeout=20 \
  -print_final_stats=1 "$@"
