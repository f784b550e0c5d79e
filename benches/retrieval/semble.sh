#!/usr/bin/env bash
# semble-dev benchmark: NDCG@10 over 12 repositories at pinned revisions (docs/benchmarks.md).
# usage: benches/retrieval/semble.sh LABEL [extra `ragops eval` args...]
# env: WORK (keep each repository's evaluation index under $WORK/<repo>, so that runs that only
#   change ranking settings re-use the vectors; default: temporary), RAGOPS, MIRRORS, OUT as in history.sh; BENCH (default ../shared/bench/semble-dev)
set -euo pipefail
label=$1; shift
R=${RAGOPS:-target/release/ragops}
M=${MIRRORS:-/work/.mirror}
OUT=${OUT:-/tmp/ragops-bench}
B=${BENCH:-../shared/bench/semble-dev}
mkdir -p "$OUT"
python3 - "$B/repos.json" > "$OUT/semble-repos.txt" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1])):
    owner, name = r["url"].removesuffix(".git").split("/")[-2:]
    print(r["name"], f"{owner}+{name}", r["revision"], r["benchmark_root"] or "")
PY
while read -r name mirror rev root; do
  rootarg=(); [ -n "$root" ] && rootarg=(--root "$root")
  workarg=(); [ -n "${WORK:-}" ] && workarg=(--work-dir "$WORK/$name")
  "$R" --repo "$M/$mirror/repo" eval "$@" --queries "$B/annotations/$name.json" --rev "$rev" "${rootarg[@]}" "${workarg[@]}" --json \
    > "$OUT/$label.$name.json" 2> "$OUT/$label.$name.err" &
done < "$OUT/semble-repos.txt"
wait
python3 - "$label" "$OUT" <<'PY'
import json, sys
label, out = sys.argv[1], sys.argv[2]
names = [l.split()[0] for l in open(f"{out}/semble-repos.txt")]
total = 0.0
print(f"| {label} | queries | NDCG@10 | MRR@10 | chunks |")
for n in names:
    d = json.load(open(f"{out}/{label}.{n}.json"))
    print(f"| {n} | {d['queries']} | {d['ndcg_at_10']:.3f} | {d['mrr_at_10']:.3f} | {d['chunks']} |")
    total += d["ndcg_at_10"]
print(f"| MEAN | | {total/len(names):.3f} | | |")
PY
