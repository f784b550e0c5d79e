#!/usr/bin/env bash
# Git-history retrieval benchmark over six repositories (docs/benchmarks.md).
# usage: benches/retrieval/history.sh LABEL [extra `ragops eval` args...]
# env: WORK (keep each repository's evaluation index under $WORK/<repo>, so that runs that only
#   change ranking settings re-use the vectors; default: temporary), RAGOPS (binary, default target/release/ragops), MIRRORS (default /work/.mirror), OUT (default /tmp/ragops-bench)
set -euo pipefail
label=$1; shift
R=${RAGOPS:-target/release/ragops}
M=${MIRRORS:-/work/.mirror}
OUT=${OUT:-/tmp/ragops-bench}
mkdir -p "$OUT"
repos="sharkdp+fd sharkdp+bat tokio-rs+tracing psf+requests pallets+click serde-rs+serde"
for r in $repos; do
  workarg=(); [ -n "${WORK:-}" ] && workarg=(--work-dir "$WORK/$r")
  "$R" --repo "$M/$r/repo" eval "$@" "${workarg[@]}" --since 2021-11-24 --until 2026-11-24 --json > "$OUT/$label.$r.json" 2> "$OUT/$label.$r.err" &
done
wait
python3 - "$label" "$OUT" $repos <<'PY'
import json, sys
label, out, repos = sys.argv[1], sys.argv[2], sys.argv[3:]
tot = dict(n=0, r1=0.0, r5=0.0, r10=0.0, mrr=0.0)
print(f"| {label} | items | R@1 | R@5 | R@10 | MRR | chunks |")
for r in repos:
    d = json.load(open(f"{out}/{label}.{r}.json"))
    n = d["items"]
    print(f"| {r} | {n} | {d['recall_at_1']:.3f} | {d['recall_at_5']:.3f} | {d['recall_at_10']:.3f} | {d['mrr']:.3f} | {d['chunks']:.0f} |")
    tot["n"] += n
    for k, key in (("r1", "recall_at_1"), ("r5", "recall_at_5"), ("r10", "recall_at_10"), ("mrr", "mrr")):
        tot[k] += d[key] * n
n = tot["n"]
print(f"| ALL | {n} | {tot['r1']/n:.3f} | {tot['r5']/n:.3f} | {tot['r10']/n:.3f} | {tot['mrr']/n:.3f} | |")
PY
