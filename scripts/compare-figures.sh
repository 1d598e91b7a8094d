#!/usr/bin/env bash
# Compares the figure CSVs in DIR (as `frontier heatmap` just wrote them) with the committed
# ones (assets/figures/ at git HEAD), with tolerances rather than bytes: f32 sums depend on the CPU's
# SIMD width, so another machine reproduces the numbers only approximately.
#   - same files, same header, same number of rows, the same text in every non-numeric field;
#   - numeric fields agree when |a − b| ≤ ATOL + RTOL·max(|a|, |b|) (defaults 1e-6 and 2e-2);
#   - at most MAX_FRAC of a file's numeric fields (default 0.02) may disagree: a cell whose
#     outcome sits on the frontier can flip (an escape fraction changes by 1/seeds) when its
#     run's summation order changes.
# Prints every disagreement (up to 20 per file) and exits 1 if a file fails, 0 otherwise.
# Usage: scripts/compare-figures.sh [DIR]   (DIR defaults to assets/figures: CI runs the README's
# heatmap command, which writes there, then this; `just check-figures` uses a scratch folder)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-assets/figures}
: "${ATOL:=1e-6}" "${RTOL:=2e-2}" "${MAX_FRAC:=0.02}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
for committed in $(git ls-files assets/figures | grep '\.csv$'); do
  new="$dir/$(basename "$committed")"
  if [[ ! -f $new ]]; then echo "$new: not produced"; fail=1; continue; fi
  git show "HEAD:$committed" >"$tmp/old.csv"
  if ! awk -F, -v atol="$ATOL" -v rtol="$RTOL" -v maxfrac="$MAX_FRAC" -v name="$new" '
    function isnum(s) { return s ~ /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/ }
    function abs(x) { return x < 0 ? -x : x }
    NR == FNR { old[FNR] = $0; nold = FNR; next }
    {
      nnew = FNR
      if (!(FNR in old)) next
      n = split(old[FNR], a, ","); m = split($0, b, ",")
      if (n != m) { printf "%s:%d: %d fields, committed %d\n", name, FNR, m, n; bad = 1; next }
      for (i = 1; i <= n; i++) {
        if (isnum(a[i]) && isnum(b[i])) {
          total++
          d = abs(a[i] - b[i]); s = abs(a[i]) > abs(b[i]) ? abs(a[i]) : abs(b[i])
          if (d > atol + rtol * s) { off++; if (off <= 20) printf "%s:%d field %d: %s, committed %s\n", name, FNR, i, b[i], a[i] }
        } else if (a[i] != b[i]) { printf "%s:%d field %d: \"%s\", committed \"%s\"\n", name, FNR, i, b[i], a[i]; bad = 1 }
      }
    }
    END {
      if (nnew != nold) { printf "%s: %d lines, committed %d\n", name, nnew, nold; bad = 1 }
      frac = total ? off / total : 0
      printf "%s: %d of %d numbers outside tolerance (%.4f, allowed %s)\n", name, off, total, frac, maxfrac
      exit (bad || frac > maxfrac) ? 1 : 0
    }' "$tmp/old.csv" "$new"; then fail=1; fi
done
for png in $(git ls-files assets/figures | grep '\.png$'); do
  png="$dir/$(basename "$png")"
  [[ -s $png ]] || { echo "$png: missing or empty"; fail=1; }
done
exit $fail
