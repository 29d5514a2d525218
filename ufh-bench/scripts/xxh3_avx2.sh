#!/usr/bin/env bash
# What the hand-written AVX2 loops of ufh-core's XXH3 mixer earn, end to end.
#
# Builds the criterion benches twice, once as shipped and once with
# `ufh-core/portable-xxh3` (the same hashes from the portable loops only), then
# runs the hashing benches of every setup from both builds in turn, ROUNDS times,
# and prints each bench's median ns/iter per build and their ratio.
#
#   ufh-bench/scripts/xxh3_avx2.sh [ROUNDS]      (default 3; run on an idle machine)
set -euo pipefail
rounds=${1:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${UFH_BENCH_WORK:-${TMPDIR:-/tmp}/ufh-xxh3-avx2}
mkdir -p "$work"
filter='^(hash_f64/ufh_64|automl_zero_program/hash_sgd$|automl_zero_program/hash_sgd_mixing_only|autorl_hash/ufh|mnas_hash/truncated)'

build() { # $1 = label, $2 = extra cargo args
  CARGO_TARGET_DIR="$work/target-$1" cargo bench --manifest-path "$root/Cargo.toml" \
    -p ufh-bench --bench bench_main $2 --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["name"]=="bench_main": print(m["executable"])' | tail -1
}
echo "building both benches (as shipped, and with ufh-core/portable-xxh3) ..." >&2
avx2=$(build avx2 "")
portable=$(build portable "--features ufh-core/portable-xxh3")

for round in $(seq "$rounds"); do
  for label in avx2 portable; do
    bin=${!label}
    echo "round $round: $label" >&2
    "$bin" --bench "$filter" --output-format bencher --noplot 2>/dev/null |
      awk -v l="$label" '/^test /{gsub(",","",$5); print l, $2, $5}' >>"$work/runs.$$"
  done
done

python3 - "$work/runs.$$" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    label, name, ns = line.split()
    runs.setdefault(name, {}).setdefault(label, []).append(float(ns))
print(f"{'bench':52} {'avx2 ns':>12} {'portable ns':>12} {'portable/avx2':>14}")
for name, by in runs.items():
    a, p = statistics.median(by["avx2"]), statistics.median(by["portable"])
    print(f"{name:52} {a:12.0f} {p:12.0f} {p / a:14.3f}")
PY
rm -f "$work/runs.$$"
