#!/usr/bin/env bash
# scripts/dist.sh [OUT]: a self-contained copy of the site in OUT (default: dist/) that any static
# host serves as is, laid out as an npm package: the page, the widget and its embed, the worker,
# both wasm builds, the manifest and the model, with relative URLs only, plus package.json, the
# .d.ts types and README.md of the package (from packaging/). `plumbing serve --dir dist` serves
# it; `npm pack` in it makes the package (everything but the model: docs/build.md).
#
# Needs www/pkg/ (./build.sh) and the model (./build.sh model); checks the model's sha256 against
# models/manifest.json. Stamps dist/sw.js with the build's version (a hash of every shell file) and
# the list of every file it precaches, taken from what OUT holds (no list is written by hand), so a
# new build is a new service worker that replaces the old caches. Writes dist/version.json for
# people and tools.
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
mkdir -p "$OUT/models"

# The shell: every file under www/ (pages, scripts, styles, views, components, icons), whatever
# its folder, but not the wasm builds (below), the symlinked models, dotfiles or tests.
(cd www && find . -mindepth 1 \( -path ./models -o -path './pkg*' -o -name '.*' -o -name '*.test.*' \) -prune \
  -o -type f -print0 | tar --null -T - -cf -) | tar -xf - -C "$OUT"
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
mapfile -d '' -t SHELL_TEXT < <(find "$OUT" \( -name '*.html' -o -name '*.js' \) -print0)
bad=$(grep -nE '(src|href)="/|(import|from) +["'\'']/|fetch\(["'\'']/|new URL\(["'\'']/[^/]' "${SHELL_TEXT[@]}" || true)
[ -z "$bad" ] || die "root-relative URLs in the shell:"$'\n'"$bad"
bad=$(find "$OUT" -name '*.html' -exec grep -nHE '<(script|link|img|iframe|source|video|audio)[^>]*(src|href)="(https?:)?//' {} + || true)
[ -z "$bad" ] || die "the shell loads something from another host:"$'\n'"$bad"

# The npm package's own files: the types and its README (package.json comes last).
cp packaging/*.d.ts "$OUT/"
cp packaging/README.md "$OUT/README.md"

# Stamp the service worker: the files = everything here but the model and the package's own
# files; version = sha256 over (path, sha256) of every such file and the unstamped sw.js.
# version.json also says which commit this is (with "+dirty" for uncommitted changes) and the
# sha256 of each wasm build: what a rebuild of that commit gives (docs/build.md).
commit=$(git rev-parse HEAD 2>/dev/null || true)
if [ -n "$commit" ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit+="+dirty"; fi
PLUMBING_COMMIT=$commit python3 - "$OUT" <<'PY'
import hashlib, json, os, sys
out = sys.argv[1]
PACKAGE_ONLY = {"package.json", "README.md"}
files = []
for root, _, names in os.walk(out):
    for n in names:
        rel = os.path.relpath(os.path.join(root, n), out).replace(os.sep, "/")
        if rel.endswith((".gguf", ".d.ts")) or rel in PACKAGE_ONLY or rel in ("sw.js", "version.json"):
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
wasm = {rel: hashlib.sha256(open(os.path.join(out, rel), "rb").read()).hexdigest() for rel in files if rel.endswith(".wasm")}
commit = os.environ.get("PLUMBING_COMMIT") or None
json.dump({"version": version, "commit": commit, "wasm_sha256": wasm, "files": files},
          open(os.path.join(out, "version.json"), "w"), indent=1)
print(f"{out}: version {version}, {len(files)} shell files")
PY

# package.json: packaging/package.json with the version of Cargo.toml and "files" = everything
# here but the model; each file "exports" names must be here.
python3 - "$OUT" <<'PY'
import json, os, re, sys
out = sys.argv[1]
cargo = open("Cargo.toml").read()
version = re.search(r'^\[package\][^\[]*?^version = "([^"]+)"', cargo, re.M | re.S).group(1)
pkg = json.load(open("packaging/package.json"))
pkg["version"] = version
files = sorted(n + ("/" if os.path.isdir(os.path.join(out, n)) else "") for n in os.listdir(out) if n != "models")
pkg["files"] = files + ["models/manifest.json"]
with open(os.path.join(out, "package.json"), "w") as f:
    json.dump(pkg, f, indent=2)
    f.write("\n")
targets = [pkg["types"]]
for v in pkg["exports"].values():
    targets += [v] if isinstance(v, str) else v.values()
for path in targets:
    if not os.path.isfile(os.path.join(out, path)):
        sys.exit(f"packaging/package.json names {path}, which {out}/ does not hold")
PY
du -sh "$OUT" | awk '{print "'"$OUT"': " $1 " in all"}'
echo "$OUT: also an npm package: (cd $OUT && npm pack) makes $(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print(p["name"] + "-" + p["version"] + ".tgz")' "$OUT/package.json") (the model left out)"
