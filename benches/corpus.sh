#!/usr/bin/env bash
# Builds a real source corpus for the scan benchmark as ONE git repository (so that
# `git ls-files` and incremental scans work on it):
#   - the HEAD trees of the repositories mirrored under $MIRRORS (`git archive`), under mirrors/<name>/;
#   - then crates from the local cargo registry ($REGISTRY, real Rust/C sources), under
#     crates/<name>/, in name order, until the corpus holds $MB megabytes (files as checked in,
#     binaries included; the scan skips those).
# No file is duplicated and nothing is generated, unless COPIES=N: then the mirror trees are
# copied N more times under mirrors-copyK/ (when the machine holds too little real source).
#
# usage: [COPIES=N] benches/corpus.sh OUT_DIR MB      e.g. benches/corpus.sh /work/.cache/corpus/c100 150
set -euo pipefail
out=${1:?usage: corpus.sh OUT_DIR MB}
mb=${2:?usage: corpus.sh OUT_DIR MB}
mirrors=${MIRRORS:-/work/.mirror}
registry=${REGISTRY:-$(ls -d "$HOME"/.cargo/registry/src/*/ | head -n1)}
limit=$((mb * 1000 * 1000))

rm -rf "$out"
mkdir -p "$out/mirrors" "$out/crates"
for repo in "$mirrors"/*/repo; do
  name=$(basename "$(dirname "$repo")")
  mkdir -p "$out/mirrors/$name"
  # Blobs a mirror lacks (its largest files may be absent) are left out.
  git -C "$repo" ls-tree -r -z --format='%(objectname) %(path)' HEAD |
    python3 -c '
import subprocess, sys, os
repo, dest = sys.argv[1], sys.argv[2]
entries = [e.split(" ", 1) for e in sys.stdin.buffer.read().decode("utf-8", "surrogateescape").split("\0") if e]
cat = subprocess.Popen(["git", "-C", repo, "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
for oid, path in entries:
    cat.stdin.write(oid.encode() + b"\n"); cat.stdin.flush()
    header = cat.stdout.readline().split()
    if len(header) < 3:
        continue
    data = cat.stdout.read(int(header[2])); cat.stdout.read(1)
    if header[1] != b"blob":
        continue
    target = os.path.join(dest, path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target.encode("utf-8", "surrogateescape"), "wb") as f:
        f.write(data)
' "$repo" "$out/mirrors/$name"
done
size() { du -sb --exclude=.git "$out" | cut -f1; }
for krate in "$registry"/*/; do
  [ "$(size)" -ge "$limit" ] && break
  cp -r "$krate" "$out/crates/"
done
for k in $(seq 1 "${COPIES:-0}"); do
  cp -r "$out/mirrors" "$out/mirrors-copy$k"
done
cd "$out"
git init -q
git -c user.name=bench -c user.email=bench@localhost -c core.autocrlf=false add -A -f . 2>/dev/null
git -c user.name=bench -c user.email=bench@localhost commit -q -m corpus
echo "$out: $(git ls-files | wc -l) files, $(size) bytes"
