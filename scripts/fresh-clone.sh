#!/usr/bin/env bash
# Times the README's two commands, one after the other, as a newcomer runs them: a fresh clone
# of this repository (its committed HEAD) with an empty target directory. The crates.io
# registry cache in ~/.cargo is reused (a first download adds well under a minute here).
# Usage: scripts/fresh-clone.sh [DIR]   (DIR: where to clone; a temporary folder by default)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
[[ $# -ge 1 ]] || trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/frontier"
cd "$work/frontier"
unset CARGO_TARGET_DIR
mapfile -t cmds < <(scripts/readme-commands.sh)
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
total=0
for cmd in "${cmds[@]}"; do
  start=$(date +%s)
  bash -c "$cmd" >"$work/log.txt" 2>&1 || { tail -30 "$work/log.txt"; echo "FAILED: $cmd" >&2; exit 1; }
  secs=$(($(date +%s) - start))
  total=$((total + secs))
  printf '%-40s %3d min %02d s\n' "$cmd" $((secs / 60)) $((secs % 60))
done
printf '%-40s %3d min %02d s\n' "both" $((total / 60)) $((total % 60))
