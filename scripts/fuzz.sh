#!/usr/bin/env bash
# Fuzzes every public entry, one target after the other (fuzz/fuzz_targets/):
#   load     arbitrary bytes as a model file: Gguf::read, Tokenizer::from_gguf, Model::load, a few tokens
#   inspect  tensor_view / tensor_block / tensor_stats with arbitrary names, rows, blocks, sizes
#   request  arbitrary JSON as a Request through Engine::begin, then a few steps and a choose
#   serve    arbitrary bytes as an HTTP request head for `plumbing serve` (src/serve.rs)
# Seeds: the crafted files of tests/crafted for load (written to target/crafted/ by
# examples/write_crafted.rs), fuzz/seeds/<target>/ for the others, with a dictionary from
# fuzz/dicts/.
#
# Usage: scripts/fuzz.sh [seconds] [extra libFuzzer flags...]
#   scripts/fuzz.sh 600                      each target for 600 s (./build.sh fuzz 600), growing
#                                            fuzz/corpus/<target>
#   scripts/fuzz.sh 600 -runs=20000 -seed=1  a fixed run (./build.sh test): each target runs its
#                                            own number of inputs (RUNS below, scaled by N/20000),
#                                            seed 1, from its seeds only (a fresh corpus); [seconds]
#                                            caps each target. The mutations are seeded, but
#                                            coverage feedback is not bit-for-bit repeatable, so two
#                                            runs try mostly, not exactly, the same inputs
#   FUZZ_TARGETS="serve request" scripts/fuzz.sh ...   only these targets
# A crash is saved in fuzz/artifacts/<target>/ and stops the script (exit 1); turn it into a
# regression test (tests/bad_files.rs for the loader, tests/serve.rs, tests/request.rs ...).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
shift || true
export PATH="$HOME/.cargo/bin:$PATH"

# The nightly cargo fuzz needs (-Zsanitizer); rust-toolchain.toml names it too.
NIGHTLY=nightly-2026-05-20
NIGHTLY_COMMIT=e50aa6fba # rustc 1.97.0-nightly (e50aa6fba 2026-05-19): the manifest is dated the 20th
CARGO_FUZZ_VERSION=0.13.2
# Inputs per target in a fixed run of -runs=20000: about a minute each on one core (measured:
# inspect ~1100/s, request ~500/s, serve ~28000/s), a few minutes in all.
declare -A RUNS=([load]=20000 [inspect]=60000 [request]=30000 [serve]=1000000)
declare -A MAX_LEN=([load]=131072 [inspect]=4096 [request]=4096 [serve]=16384)
TARGETS=${FUZZ_TARGETS:-load inspect request serve}

if rustup toolchain list | grep -q "^$NIGHTLY-"; then
  TOOLCHAIN=$NIGHTLY
elif rustup toolchain list | grep -q '^nightly-' && rustc +nightly --version | grep -q "($NIGHTLY_COMMIT "; then
  TOOLCHAIN=nightly # the same build under its channel name
else
  echo "== installing $NIGHTLY (cargo fuzz needs -Zsanitizer)" >&2
  rustup toolchain install "$NIGHTLY" --profile minimal
  TOOLCHAIN=$NIGHTLY
fi
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

# A fixed run? Then -runs=N is taken out and scales each target's own count.
FIXED=""
FLAGS=()
for a in "$@"; do
  case "$a" in
    -runs=*) FIXED=${a#-runs=} ;;
    *) FLAGS+=("$a") ;;
  esac
done

echo "== writing the crafted files (seeds of the loader)" >&2
cargo run --release --example write_crafted >/dev/null

echo "== building every target ($TOOLCHAIN)" >&2
cargo "+$TOOLCHAIN" fuzz build

for t in $TARGETS; do
  if [ -n "$FIXED" ]; then
    corpus=target/fuzz-fixed/$t # fresh: the run depends on the seeds and the seed only
    rm -rf "$corpus"
    runs=$(( RUNS[$t] * FIXED / 20000 ))
    [ "$runs" -ge 1 ] || runs=1
    what="$runs inputs"
  else
    corpus=fuzz/corpus/$t
    runs=-1
    what="${SECONDS_TO_RUN}s"
  fi
  mkdir -p "$corpus" "fuzz/artifacts/$t"
  if [ "$t" = load ]; then
    # Seeds up to 700 KB (the tiny models, one in every weight type, and their mutations).
    find target/crafted -name '*.gguf' -size -700k -exec cp -n {} "$corpus/" \;
  elif [ -d "fuzz/seeds/$t" ]; then
    cp -n fuzz/seeds/"$t"/* "$corpus/"
  fi
  dict=()
  [ -f "fuzz/dicts/$t.dict" ] && dict=(-dict="$PWD/fuzz/dicts/$t.dict")
  echo "== fuzzing $t: $what" >&2
  # -rss_limit_mb: an input that makes the engine allocate far more than its own size is a bug too.
  cargo "+$TOOLCHAIN" fuzz run "$t" "$corpus" -- \
    -runs="$runs" -max_total_time="$SECONDS_TO_RUN" -max_len="${MAX_LEN[$t]}" -rss_limit_mb=2048 -timeout=20 \
    -print_final_stats=1 ${dict[@]+"${dict[@]}"} ${FLAGS[@]+"${FLAGS[@]}"}
done
