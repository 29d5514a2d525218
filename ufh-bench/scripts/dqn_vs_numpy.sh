#!/usr/bin/env bash
# ufh's DQN update against the numpy DQN's, in one sitting.
#
# Runs criterion's `autorl_dqn_update` (DQN's loss graph, 32 × 32 and 256 × 256)
# and `ufh-bench/reference/dqn_numpy.py update` at the same sizes, then prints
# each time and numpy's over ufh's. Needs `pip install -r
# ufh-bench/reference/requirements.txt`; run on an idle machine.
#
#   ufh-bench/scripts/dqn_vs_numpy.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
ufh=$(cargo bench -q -p ufh-bench --bench bench_main -- 'autorl_dqn_update' \
  --output-format bencher --noplot 2>/dev/null | awk '/^test /{gsub(",","",$5); print $2, $5}')
declare -A numpy
for hidden in 32,32 256,256; do
  numpy[$hidden]=$(python3 ufh-bench/reference/dqn_numpy.py update --hidden "$hidden" | awk '{print $(NF-1)}')
done
echo "$ufh" | while read -r name ns; do
  case $name in
    *32x32) hidden=32,32 ;;
    *256x256) hidden=256,256 ;;
  esac
  python3 -c "import sys; u=float(sys.argv[2])/1e3; n=float(sys.argv[3]); print(f'{sys.argv[1]:40} ufh {u:8.1f} us  numpy {n:8.1f} us  numpy/ufh {n/u:5.2f}x')" \
    "$name" "$ns" "${numpy[$hidden]}"
done
