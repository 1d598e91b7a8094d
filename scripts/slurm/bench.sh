#!/usr/bin/env bash
# The sharding benchmark of the README: one figure (default figure 4) from an empty cache as
#   1. one process;
#   2. two shards run at the same time on this machine, then the merge;
#   3. four shards as a job array on a local one-node Slurm, then the merge job
#      (tests/slurm/run.sh, which also checks the merged files against an unsharded run);
# with the wall time of each, the setup seconds every process spent (pre-training and
# linearisation; shards that need the same setup each prepare it unless it is already in the
# shared cache), and the cost of a process that only renders from a full cache (--merge).
#
#   scripts/slurm/bench.sh [FIGURE]      (as root for step 3; needs target/release/frontier)
set -euo pipefail
cd "$(dirname "$0")/../.."
figure=${1:-figure4}
frontier=$PWD/target/release/frontier
work=$(mktemp -d /tmp/frontier-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

now_ms() { date +%s%3N; }
since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }
# Sum of the "setups X s" of the grid notes in the files given.
setups() { grep -ho 'setups [0-9.]* s' "$@" | awk '{ s += $2 } END { printf "%.1f", s }'; }
run() { "$frontier" heatmap --only "$figure" "$@"; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"

t=$(now_ms)
run --out "$work/one/out" --runs "$work/one/runs" >/dev/null 2>"$work/one.log"
echo "1 process: $(since "$t") s (setups $(setups "$work/one.log") s)"

t=$(now_ms)
run --shard 1/2 --out "$work/two/out" --runs "$work/two/runs" 2>"$work/two-1.log" &
run --shard 2/2 --out "$work/two/out" --runs "$work/two/runs" 2>"$work/two-2.log" &
wait
shards=$(since "$t")
m=$(now_ms)
run --merge 2 --out "$work/two/out" --runs "$work/two/runs" >/dev/null 2>&1
echo "2 shards at once: $(since "$t") s (shards $shards s, merge $(since "$m") s;" \
  "setups $(setups "$work"/two-*.log) s in all)"
for f in "$work"/one/out/*; do
  cmp -s "$f" "$work/two/out/$(basename "$f")" || echo "DIFFERS: $(basename "$f")"
done

t=$(now_ms)
run --merge 1 --out "$work/render/out" --runs "$work/one/runs" >/dev/null 2>&1
echo "render only from a full cache (--merge 1): $(since "$t") s"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

tests/slurm/run.sh heatmap --only "$figure"
