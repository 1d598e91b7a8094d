# frontier recipes. Get just in seconds with `pip install rust-just` (it ships the binary), or
# build it with `cargo install just`. `just --list` shows each recipe's one-line description.

# Regenerate every figure into assets/figures/ (CPU).
heatmap *ARGS:
    cargo run --release -- heatmap {{ARGS}}

# Regenerate every figure on a GPU through wgpu (f32).
heatmap-gpu *ARGS:
    cargo run --release --features wgpu -- heatmap --backend wgpu {{ARGS}}

# Regenerate every figure from an empty cache into target/check-figures and compare with the committed CSVs.
check-figures:
    cargo run --release -- heatmap --out target/check-figures --runs target/check-figures/runs --force
    scripts/compare-figures.sh target/check-figures

# The whole test suite, the README's test command (what CI runs).
test:
    cargo test --workspace --release

# Time the kernels and every figure (writes assets/bench/<backend>.csv), then the criterion benches.
bench *ARGS:
    cargo run --release -- bench --figures {{ARGS}}
    cargo bench --workspace

# Time the kernels and every figure on a GPU through wgpu (writes assets/bench/gpu.csv).
bench-gpu *ARGS:
    cargo run --release --features wgpu -- bench --backend wgpu --figures {{ARGS}}

# Time the README's two commands on a fresh clone with an empty target directory.
fresh-clone:
    scripts/fresh-clone.sh

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Format the code.
fmt:
    cargo fmt --all
