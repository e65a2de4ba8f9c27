#!/usr/bin/env bash
# Runs every rvs test: formatting, lints, unit/property/golden-pcap tests, then the
# end-to-end network-namespace tests. Run as root on Debian 12 (installs what it needs).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
bash scripts/install-deps.sh
bash scripts/hugepages.sh || echo "hugepages unavailable: tests run with --no-huge"
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "layout: no file-level import cycle, no non-test file over 800 lines (docs/ARCHITECTURE.md)"
python3 scripts/check-layout.py
python3 benches/bench.py check_rules

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (unit, property, golden pcap)"
cargo test --workspace 2>&1 | tee /tmp/rvs-cargo-test.log
cargo_summary=$(grep -E '^test result:' /tmp/rvs-cargo-test.log | awk '{p+=$4; f+=$6} END {printf "%d passed, %d failed", p, f}')

step "end-to-end (network namespaces)"
cargo build --release -p control --bins
set +e
RVSD="$PWD/target/release/rvsd" bash tests/e2e/run.sh 2>&1 | tee /tmp/rvs-e2e.log
e2e_rc=${PIPESTATUS[0]}
set -e
e2e_summary=$(grep -E '^e2e: [0-9]+ passed, [0-9]+ failed' /tmp/rvs-e2e.log | tail -1 | sed 's/^e2e: //')

step "summary"
echo "cargo test: $cargo_summary"
echo "e2e: ${e2e_summary:-no result}"
read -r cp cf < <(echo "$cargo_summary" | awk '{print $1, $3}')
read -r ep ef < <(echo "${e2e_summary:-0 passed, 1 failed}" | awk '{print $1, $3}')
echo "all: $((cp + ep)) passed, $((cf + ef)) failed"
[ "$e2e_rc" -eq 0 ] && [ "$((cf + ef))" -eq 0 ]
