#!/usr/bin/env bash
# A stand-in for rvsd built from the kernel's own NAT (nftables DNAT with a round-robin
# `numgen inc`), run inside the director namespace of scripts/netns.sh. It behaves like
# rvsd with examples/demo.yaml from the outside: answers ARP for 198.18.0.100,
# 198.18.0.254 and 198.19.0.254, NATs TCP :80 and UDP :5353 round robin to
# 198.19.0.11/198.19.0.12, runs in the foreground until SIGINT/SIGTERM and exits 0.
# Uses: validating the e2e harness without rvsd (RVSD=tests/e2e/helpers/nft_director.sh
# bash tests/e2e/nat_http.sh) and as the kernel-NAT baseline for benchmarks.
# The --config argument is accepted for compatibility and ignored.
set -euo pipefail

while [ $# -gt 0 ]; do
	case $1 in
	--config) shift 2 ;;
	*)
		echo "nft_director: unknown argument $1" >&2
		exit 2
		;;
	esac
done

ip addr add 198.18.0.254/24 dev rvs-wan
ip addr add 198.18.0.100/32 dev rvs-wan
ip addr add 198.19.0.254/24 dev rvs-lan
echo 1 >/proc/sys/net/ipv4/ip_forward
nft -f - <<'EOF'
table ip rvs_nat {
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr 198.18.0.100 tcp dport 80 dnat to numgen inc mod 2 map { 0 : 198.19.0.11, 1 : 198.19.0.12 }
        ip daddr 198.18.0.100 udp dport 5353 dnat to numgen inc mod 2 map { 0 : 198.19.0.11, 1 : 198.19.0.12 }
    }
}
EOF

sleeper=""
undo() {
	[ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null || true
	nft delete table ip rvs_nat 2>/dev/null || true
	echo 0 >/proc/sys/net/ipv4/ip_forward
	ip addr flush dev rvs-wan 2>/dev/null || true
	ip addr flush dev rvs-lan 2>/dev/null || true
	echo "nft_director: stopped"
	exit 0
}
trap undo INT TERM
echo "nft_director: running"
while :; do
	sleep 1 &
	sleeper=$!
	wait "$sleeper" || true
done
