#!/usr/bin/env bash
# Checks that the README's test command reuses the dependencies built by its main command:
# builds the `frontier` binary in release (what `cargo run --release` builds), then the test
# targets (`cargo test --workspace --release --no-run`), and fails if the second compiles any
# dependency the first already built (a feature that differs between the two builds makes
# cargo compile such a crate, and everything above it such as Burn, a second time). Crates
# only the tests need (dev-dependencies) and this workspace's own crates may compile.
set -euo pipefail
cd "$(dirname "$0")/.."

# Package ids (one per line) of the artifacts a cargo JSON message stream names.
ids() { grep '"reason":"compiler-artifact"' | grep -o '"package_id":"[^"]*"' | sort -u || true; }
# ...of those cargo compiled rather than found up to date.
compiled() { grep '"reason":"compiler-artifact"' | grep '"fresh":false' | grep -o '"package_id":"[^"]*"' | sort -u || true; }

build=$(cargo build --release --bin frontier --message-format=json 2>/dev/null | ids)
tests=$(cargo test --workspace --release --no-run --message-format=json 2>/dev/null | compiled)
twice=$(comm -12 <(printf '%s\n' "$build") <(printf '%s\n' "$tests") | grep -v 'frontier' || true)
if [[ -n $twice ]]; then
  echo "cargo test --workspace --release compiled again these dependencies of the release build:" >&2
  printf '%s\n' "$twice" | sed 's/"package_id":/  /' >&2
  echo "Add the features the test build turns on to the root package's dependencies (see the comment in Cargo.toml)." >&2
  exit 1
fi
echo "shared build: the test command compiled no dependency of the release build again"
