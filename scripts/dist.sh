#!/usr/bin/env bash
# scripts/dist.sh [OUT]: a self-contained copy of the site in OUT (default: dist/) that any static
# host serves as is: the page, the widget and its embed, the worker, the wasm, the manifest and the
# model, with relative URLs only; `plumbing serve --dir dist` serves it.
#
# Needs www/pkg/ (./build.sh) and the model (./build.sh model); checks the model's sha256 against
# models/manifest.json. Stamps dist/sw.js with the build's version (a hash of every shell file) and
# the exact list of files it precaches, so a new build is a new service worker that replaces the
# old caches. Writes dist/version.json for people and tools.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-dist}

die() { echo "error: $*" >&2; exit 1; }
[ -f www/pkg/plumbing.js ] && [ -f www/pkg/plumbing_bg.wasm ] || die "www/pkg/ is missing: run ./build.sh first"

# The model(s) the manifest names, each checked against its sha256.
mapfile -t MODELS < <(python3 - <<'PY'
import json
m = json.load(open("models/manifest.json"))
for e in m["models"]:
    print(f'{e["file"]}\t{e["sha256"]}\t{e["bytes"]}')
PY
)
for line in "${MODELS[@]}"; do
  IFS=$'\t' read -r file sha bytes <<<"$line"
  case "$file" in /*|*..*|*://*) die "models/manifest.json: file \"$file\" must be a relative path inside models/";; esac
  [ -f "models/$file" ] || die "models/$file is missing: run ./build.sh model"
  got=$(sha256sum "models/$file" | cut -d' ' -f1)
  [ "$got" = "$sha" ] || die "models/$file has sha256 $got; models/manifest.json expects $sha"
  [ "$(stat -c %s "models/$file")" = "$bytes" ] || die "models/$file is not $bytes bytes long"
done

rm -rf "$OUT"
mkdir -p "$OUT/components" "$OUT/models"

# The shell: every page, script and stylesheet of www/ (not the tests, not the symlinked models).
cp www/*.html www/*.js www/*.css www/favicon.svg "$OUT/"
cp www/components/*.js "$OUT/components/"
# Every wasm build the worker may pick (www/pkg, and www/pkg-relaxed where built).
for pkg in www/pkg www/pkg-*; do
  [ -f "$pkg/plumbing.js" ] && [ -f "$pkg/plumbing_bg.wasm" ] || continue
  mkdir -p "$OUT/${pkg#www/}"
  cp "$pkg/plumbing.js" "$pkg/plumbing_bg.wasm" "$OUT/${pkg#www/}/"
done
cp models/manifest.json "$OUT/models/"
for line in "${MODELS[@]}"; do
  IFS=$'\t' read -r file _ _ <<<"$line"
  cp --reflink=auto "models/$file" "$OUT/models/$file"
done

# Relative URLs only: nothing in the shell may point at the site root or at another host.
bad=$(grep -nE '(src|href)="/|(import|from) +["'\'']/|fetch\(["'\'']/|new URL\(["'\'']/[^/]' \
  "$OUT"/*.html "$OUT"/*.js "$OUT"/components/*.js 2>/dev/null || true)
[ -z "$bad" ] || die "root-relative URLs in the shell:"$'\n'"$bad"
bad=$(grep -nE '<(script|link|img|iframe|source|video|audio)[^>]*(src|href)="(https?:)?//' "$OUT"/*.html || true)
[ -z "$bad" ] || die "the shell loads something from another host:"$'\n'"$bad"

# Stamp the service worker: version = sha256 over (path, sha256) of every precached file.
python3 - "$OUT" <<'PY'
import hashlib, json, os, sys, re
out = sys.argv[1]
files = []
for root, _, names in os.walk(out):
    for n in names:
        rel = os.path.relpath(os.path.join(root, n), out).replace(os.sep, "/")
        if rel.endswith(".gguf") or rel in ("sw.js", "version.json"):
            continue
        files.append(rel)
files.sort()
h = hashlib.sha256()
for rel in files:
    h.update(rel.encode() + b"\0" + hashlib.sha256(open(os.path.join(out, rel), "rb").read()).digest())
sw_path = os.path.join(out, "sw.js")
sw = open(sw_path).read()
h.update(sw.encode())
version = h.hexdigest()[:16]
build = {"version": version, "files": ["./"] + files}
line = "const BUILD = null; // stamped by scripts/dist.sh"
if line not in sw:
    sys.exit("sw.js has no BUILD line to stamp")
sw = sw.replace(line, "const BUILD = " + json.dumps(build) + "; // stamped by scripts/dist.sh", 1)
open(sw_path, "w").write(sw)
json.dump({"version": version, "files": files}, open(os.path.join(out, "version.json"), "w"), indent=1)
print(f"{out}: version {version}, {len(files)} shell files")
PY
du -sh "$OUT" | awk '{print "'"$OUT"': " $1 " in all"}'
