# frontier recipes. Install just with `cargo install just` if it is missing.

# Regenerate every figure into assets/figures/ (CPU).
heatmap *ARGS:
    cargo run --release -- heatmap {{ARGS}}

# Regenerate every figure on a GPU through wgpu (f32).
heatmap-gpu *ARGS:
    cargo run --release --features wgpu -- heatmap --backend wgpu {{ARGS}}

# The whole test suite (what CI runs).
test:
    cargo test --workspace --release

# The kernel table and per-figure timings (writes assets/bench/<backend>.csv), then the
# criterion benches.
bench *ARGS:
    cargo run --release -- bench --figures {{ARGS}}
    cargo bench --workspace

# The same table on a GPU through wgpu (writes assets/bench/gpu.csv).
bench-gpu *ARGS:
    cargo run --release --features wgpu -- bench --backend wgpu --figures {{ARGS}}

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Format the code.
fmt:
    cargo fmt --all

# Regenerate every figure into a scratch folder and compare its CSVs with the committed ones
# (tolerances in scripts/compare-figures.sh).
check-figures:
    cargo run --release -- heatmap --out target/check-figures --runs target/check-figures/runs --force
    scripts/compare-figures.sh target/check-figures
