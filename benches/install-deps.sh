#!/usr/bin/env bash
# Installs what the benchmark suite (benches/run.sh, benches/e2e.sh) needs on top of the
# build and test packages of scripts/install-deps.sh: HAProxy (the TCP-proxy baseline)
# and valgrind (per-stage instruction counts). Kept out of CI's list: CI does not run
# benchmarks. Idempotent; uses sudo when not root.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bash "$here/../scripts/install-deps.sh"

packages=(haproxy valgrind)
missing=()
for p in "${packages[@]}"; do
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" = installed ] || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
	echo "benches/install-deps: all ${#packages[@]} packages already installed"
	exit 0
fi
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "benches/install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
# Debian starts HAProxy's own service on install where systemd runs; the benchmark
# starts its own instance in a namespace and needs nothing else.
echo "benches/install-deps: done"
