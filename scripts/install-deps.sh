#!/usr/bin/env bash
# Installs the Debian 12 packages rvs needs to build (DPDK, bindgen's libclang), test
# (network namespaces, tcpdump/tshark, curl, nginx, wrk) and benchmark (nftables as the
# kernel-NAT baseline). Idempotent and quick: apt is not touched when everything is
# already installed. Runs non-interactively; uses sudo when not root.
set -euo pipefail

packages=(
	dpdk dpdk-dev libdpdk-dev
	libclang-dev clang pkg-config libpcap-dev
	iproute2 ethtool tcpdump curl iputils-ping python3 tshark
	nginx wrk nftables
)

installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

missing=()
for p in "${packages[@]}"; do
	installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-deps: all ${#packages[@]} packages already installed"
	exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || {
		echo "install-deps: missing ${missing[*]}; run as root or install sudo" >&2
		exit 1
	}
	sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update -q
# tshark asks whether non-root users may capture: keep Debian's default (no), quietly.
echo "wireshark-common wireshark-common/install-setuid boolean false" |
	"${sudo[@]}" debconf-set-selections 2>/dev/null || true
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
echo "install-deps: done"
