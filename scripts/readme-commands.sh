#!/usr/bin/env bash
# Prints the README's two commands, one per line: the lines of the first code block under the
# heading "## Two commands", comments stripped. CI runs exactly these lines (`.ci/run`), and
# `scripts/fresh-clone.sh` times them, so the README cannot drift from what is tested.
# Exits 1 unless it finds exactly two commands, one running the heatmap and one the tests.
set -euo pipefail
readme="$(dirname "$0")/../README.md"
cmds=$(awk '
  /^## Two commands/ { section = 1; next }
  section && /^## / { exit }
  section && /^```/ { if (inblock) exit; inblock = 1; next }
  inblock { sub(/[[:space:]]*#.*/, ""); if (length($0)) print }
' "$readme")
count=$(printf '%s\n' "$cmds" | grep -c . || true)
if [[ $count -ne 2 ]] || ! grep -q -- '-- heatmap' <<<"$cmds" || ! grep -q 'cargo test --workspace' <<<"$cmds"; then
  echo "README.md: expected two commands (the heatmap and 'cargo test --workspace ...') in the first code block under '## Two commands', found $count:" >&2
  printf '%s\n' "$cmds" >&2
  exit 1
fi
printf '%s\n' "$cmds"
