#!/usr/bin/env bash
# scripts/repro.sh [simd128 | relaxed | both | threads]: is the wasm build reproducible?
#
# Builds the tree a second time, from scratch, in a fresh copy in a temp directory with its own
# target dir (`./build.sh wasm` there: the very commands ./build.sh runs here), and compares the
# bytes with what ./build.sh left in www/pkg*/. Then checks that no .wasm names a directory of
# this machine (the tree, the copy, $CARGO_HOME, $HOME, the toolchain): such a path would make the
# bytes differ on another machine even where they agree on this one.
#
# Default: simd128 only, one extra release build (about 3 minutes on 2 idle cores; docs/build.md).
# Both builds run the same compiler on the same sources with the same flags (plus relaxed-simd),
# so what holds for one holds for the other; `both` checks pkg-relaxed as well. `threads` checks
# www/pkg-threads (another compiler, the pinned nightly, and a std rebuilt with -Z build-std whose
# paths are remapped like the toolchain's: about 5 more minutes, so not part of ./build.sh test).
# The copy is the tree as git sees it (tracked files as they are now, and untracked files that
# are not ignored): in CI that is the commit; in a working tree an uncommitted edit is in both.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$HOME/.cargo/bin:$PATH"
WHICH=${1:-simd128}
case "$WHICH" in
  simd128) DIRS=(pkg) ;;
  relaxed) DIRS=(pkg-relaxed) ;;
  both) DIRS=(pkg pkg-relaxed) ;;
  threads) DIRS=(pkg-threads) ;;
  *) echo "usage: scripts/repro.sh [simd128 | relaxed | both | threads]" >&2; exit 2 ;;
esac

die() { echo "error: $*" >&2; exit 1; }
for d in "${DIRS[@]}"; do
  [ -f "www/$d/plumbing_bg.wasm" ] || die "www/$d/plumbing_bg.wasm is missing: run ./build.sh first"
  # A source edited after that build is in the copy but not in www/: no comparison to make.
  while IFS= read -r -d '' f; do
    if [ "$f" -nt "www/$d/plumbing_bg.wasm" ]; then die "www/$d/plumbing_bg.wasm is older than $f: run ./build.sh wasm first"; fi
  done < <(git ls-files -z --cached --others --exclude-standard -- src Cargo.toml Cargo.lock .cargo rust-toolchain.toml build.sh)
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/plumbing-repro-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/tree"
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi; done \
  | tar --null -T - -cf - | tar -xf - -C "$tmp/tree"

start=$SECONDS
(cd "$tmp/tree" && ./build.sh wasm "$WHICH") >"$tmp/build.log" 2>&1 \
  || { tail -40 "$tmp/build.log" >&2; die "the second build failed (its log is above)"; }
took=$((SECONDS - start))

fail=0
for d in "${DIRS[@]}"; do
  for f in plumbing_bg.wasm plumbing.js; do
    a="www/$d/$f" b="$tmp/tree/www/$d/$f"
    if cmp -s "$a" "$b"; then continue; fi
    fail=1
    echo "NOT REPRODUCIBLE: $a differs from a second clean build of the same tree:" >&2
    for x in "$a" "$b"; do echo "  $(sha256sum "$x" | cut -d' ' -f1)  $(stat -c %s "$x") bytes  $x" >&2; done
    if [ "$f" = plumbing_bg.wasm ]; then
      # Which sections differ (custom sections by name): where to look first.
      python3 - "$a" "$b" <<'PY' >&2
import sys, hashlib
NAMES = {1: "type", 2: "import", 3: "function", 4: "table", 5: "memory", 6: "global", 7: "export",
         8: "start", 9: "element", 10: "code", 11: "data", 12: "datacount"}
def sections(path):
    b = open(path, "rb").read(); i = 8; out = []
    def leb(i):
        r = s = 0
        while True:
            x = b[i]; i += 1; r |= (x & 0x7f) << s; s += 7
            if x < 0x80: return r, i
    while i < len(b):
        sid = b[i]; n, j = leb(i + 1); name = NAMES.get(sid, str(sid))
        if sid == 0:
            k, p = leb(j); name = "custom " + b[p:p + k].decode(errors="replace")
        out.append((name, n, hashlib.sha256(b[j:j + n]).hexdigest()[:12])); i = j + n
    return out
a, b = sections(sys.argv[1]), sections(sys.argv[2])
for x, y in zip(a, b):
    if x != y: print(f"  section {x[0]}: {x[1]} bytes ({x[2]}) vs {y[0]}: {y[1]} bytes ({y[2]})")
if len(a) != len(b): print(f"  {len(a)} sections vs {len(b)}")
PY
    fi
  done
done

# Paths of this machine in the binaries (rustc embeds source paths in panic locations).
sysroot=$(rustc --print sysroot)
if [ "$WHICH" = threads ]; then sysroot=$(rustc +"$(sed -n 's/^NIGHTLY=//p' build.sh)" --print sysroot 2>/dev/null || rustc +nightly --print sysroot); fi
for d in "${DIRS[@]}"; do
  for w in "www/$d/plumbing_bg.wasm" "$tmp/tree/www/$d/plumbing_bg.wasm"; do
    for p in "$ROOT" "$tmp" "${CARGO_HOME:-$HOME/.cargo}" "$sysroot" "$HOME/"; do
      [ "${#p}" -ge 5 ] || continue
      if grep -qaF -- "$p" "$w"; then
        fail=1
        echo "NOT REPRODUCIBLE: $w names $p (a path of this machine), e.g.:" >&2
        python3 -c 'import sys, re; b = open(sys.argv[1], "rb").read(); p = sys.argv[2].encode()
for m in list(re.finditer(re.escape(p), b))[:3]: print("  " + re.findall(rb"[ -~]*$", b[max(0, m.start() - 40):m.start()])[0].decode() + b[m.start():m.start() + 100].split(b"\0")[0].decode(errors="replace"))' "$w" "$p" >&2
      fi
    done
  done
done

[ "$fail" = 0 ] || die "the wasm build is not reproducible (see above; docs/build.md says what is remapped)"
for d in "${DIRS[@]}"; do
  echo "reproducible: www/$d/plumbing_bg.wasm sha256 $(sha256sum "www/$d/plumbing_bg.wasm" | cut -d' ' -f1) (second build: ${took}s)"
done
