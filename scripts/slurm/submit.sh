#!/usr/bin/env bash
# Submits a frontier sweep to Slurm as a job array of N shards and a merge job that starts
# once every shard has succeeded (--dependency=afterok); prints the two job ids.
#
#   scripts/slurm/submit.sh N heatmap --runs /shared/runs --out /shared/figures [flags...]
#   scripts/slurm/submit.sh N sweep --config my.toml --runs /shared/runs --out /shared/mine
#
# Run it from the directory the jobs should run in (the repository, for the committed
# configs). --runs and --out must be on a filesystem every node sees (the shards meet in the
# cache). Resume a partly failed array by submitting again: finished cells are skipped.
#
# Environment:
#   FRONTIER        the binary (default: `frontier` on PATH, else ./target/release/frontier)
#   FRONTIER_TASKS  which array tasks to submit (default 1-N; e.g. 2,4 to rerun two shards)
#   FRONTIER_LOGS   folder of the job logs shard-K.out and merge.out (default slurm-logs)
#   SBATCH_ARGS     more sbatch options for both jobs, e.g. "--partition=cpu --time=2:00:00"
set -euo pipefail

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
[[ $# -ge 2 && $1 =~ ^[1-9][0-9]*$ ]] || usage
shards=$1
shift

here=$(cd "$(dirname "$0")" && pwd)
frontier=${FRONTIER:-$(command -v frontier || echo target/release/frontier)}
if [[ ! -x $frontier ]]; then
  echo "submit.sh: no frontier binary at $frontier (build it: cargo build --release)" >&2
  exit 2
fi
frontier=$(realpath "$frontier")
logs=${FRONTIER_LOGS:-slurm-logs}
mkdir -p "$logs"
logs=$(realpath "$logs")
export FRONTIER=$frontier FRONTIER_SHARDS=$shards
# shellcheck disable=SC2086 # SBATCH_ARGS is a list of options
array=$(sbatch --parsable ${SBATCH_ARGS:-} --export=ALL --array="${FRONTIER_TASKS:-1-$shards}" \
  --output="$logs/shard-%a.out" "$here/sweep.sbatch" "$@")
array=${array%%;*}
# shellcheck disable=SC2086
merge=$(sbatch --parsable ${SBATCH_ARGS:-} --export=ALL --dependency="afterok:$array" \
  --kill-on-invalid-dep=yes --output="$logs/merge.out" "$here/sweep.sbatch" "$@")
merge=${merge%%;*}
echo "$array $merge"
