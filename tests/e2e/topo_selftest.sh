#!/usr/bin/env bash
# Self-test of scripts/netns.sh without rvsd: the director namespace is made a plain
# kernel router for the duration of the test, then client -> real server HTTP and UDP
# echo must work. Two topologies run side by side (nginx in one, python's http.server
# in the other) to show that prefixes do not collide. After topo_down nothing may be
# left: no namespaces, no processes, no state directory.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns.sh
source "$here/../../scripts/netns.sh"

name=topo_selftest
prefixes=("rvsst$$" "rvsst$$b")
failures=0

exec 7>&1 8>&2 # the script's own stdout/stderr, for cleanup()
cleanup() {
	local rc=$?
	set +e
	# A second signal (e.g. a timeout's) must not cut the clean-up short.
	trap '' INT TERM
	# A signal can arrive while a command runs with its output redirected (e.g.
	# `cmd >/dev/null`); the traps then inherit that redirection: restore the originals.
	exec 1>&7 2>&8
	for p in "${prefixes[@]}"; do
		topo_down "$p"
	done
	if [ "$rc" -eq 0 ] && [ "$failures" -eq 0 ]; then
		echo "PASS: $name"
	else
		echo "FAIL: $name ($failures failed checks, exit $rc)"
		[ "$rc" -ne 0 ] || rc=1
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ok() { printf '  ok   %s\n' "$*"; }
bad() {
	printf '  FAIL %s\n' "$*"
	failures=$((failures + 1))
}
# check DESCRIPTION EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected '$2', got '$3'"; fi
}

[ "$(id -u)" -eq 0 ] || {
	echo "$name needs root (network namespaces)"
	exit 1
}

# Become a kernel router: what rvsd does in user space in the real tests.
make_kernel_router() {
	local lb
	lb=$(topo_ns "$1" lb)
	ip -n "$lb" addr add "$TOPO_WAN_GW/24" dev rvs-wan
	ip -n "$lb" addr add "$TOPO_LAN_GW/24" dev rvs-lan
	ip netns exec "$lb" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
}

check_director_silent() {
	local p=$1 lb dev
	lb=$(topo_ns "$p" lb)
	for dev in rvs-wan rvs-lan; do
		check_eq "$p: $dev is UP" UP "$(ip -n "$lb" -br link show dev "$dev" | awk '{print $2}')"
		check_eq "$p: $dev has no address" "" "$(ip -n "$lb" -o addr show dev "$dev")"
		check_eq "$p: $dev has IPv6 disabled" 1 \
			"$(ip netns exec "$lb" cat "/proc/sys/net/ipv6/conf/$dev/disable_ipv6")"
	done
	check_eq "$p: director does not forward" 0 \
		"$(ip netns exec "$lb" cat /proc/sys/net/ipv4/ip_forward)"
}

check_offloads() {
	local p=$1 role ns dev
	for role in $TOPO_ROLES; do
		ns=$(topo_ns "$p" "$role")
		for dev in $(ip -n "$ns" -o link show type veth | awk -F': ' '{sub(/@.*/, "", $2); print $2}'); do
			check_eq "$p: tx checksum offload off on $ns/$dev" "tx-checksumming: off" \
				"$(ip netns exec "$ns" ethtool -k "$dev" | grep '^tx-checksumming:' | sed 's/ \[.*//')"
		done
	done
}

check_routes() {
	local p=$1
	check_eq "$p: client default route" "default via $TOPO_WAN_GW dev eth0" \
		"$(ip -n "$(topo_ns "$p" c)" route show default | sed 's/ *$//')"
	check_eq "$p: rs1 default route" "default via $TOPO_LAN_GW dev eth0" \
		"$(ip -n "$(topo_ns "$p" rs1)" route show default | sed 's/ *$//')"
	check_eq "$p: rs2 default route" "default via $TOPO_LAN_GW dev eth0" \
		"$(ip -n "$(topo_ns "$p" rs2)" route show default | sed 's/ *$//')"
}

check_traffic() {
	local p=$1 c got
	c=$(topo_ns "$p" c)
	got=$(wait_http "$c" "http://$TOPO_RS1_ADDR/" 10 || true)
	check_eq "$p: HTTP client -> rs1 through the router" rs1 "$got"
	got=$(http_get "$c" "http://$TOPO_RS2_ADDR/" || true)
	check_eq "$p: HTTP client -> rs2 through the router" rs2 "$got"
	got=$(udp_query "$c" "$TOPO_RS1_ADDR" 5353 "hello $p" 3 || true)
	check_eq "$p: UDP echo client -> rs1" "rs1 hello $p" "$got"
	got=$(udp_query "$c" "$TOPO_RS2_ADDR" 5353 "hello $p" 3 || true)
	check_eq "$p: UDP echo client -> rs2" "rs2 hello $p" "$got"
}

started=$SECONDS
topo_up "${prefixes[0]}"
topo_up "${prefixes[1]}"
check_director_silent "${prefixes[0]}"
check_offloads "${prefixes[0]}"
check_routes "${prefixes[0]}"

# Nothing answers before the director routes: the kernel there must stay silent.
if udp_query "$(topo_ns "${prefixes[0]}" c)" "$TOPO_RS1_ADDR" 5353 early 1 >/dev/null 2>&1; then
	bad "${prefixes[0]}: an answer came back before the director was made a router"
else
	ok "${prefixes[0]}: no path through the silent director"
fi

RVS_HTTP_SERVER=nginx rs_start_http "${prefixes[0]}"
RVS_HTTP_SERVER=python rs_start_http "${prefixes[1]}"
for p in "${prefixes[@]}"; do
	rs_start_udp_echo "$p"
	make_kernel_router "$p"
done
for p in "${prefixes[@]}"; do
	check_traffic "$p"
done

# Tear down and look for leftovers.
pids=()
for p in "${prefixes[@]}"; do
	for role in $TOPO_ROLES; do
		while read -r pid; do
			[ -n "$pid" ] && pids+=("$pid")
		done < <(ip netns pids "$(topo_ns "$p" "$role")")
	done
done
check_eq "servers were running in the namespaces (>= 8 processes)" yes \
	"$([ "${#pids[@]}" -ge 8 ] && echo yes || echo "no (${#pids[@]})")"
for p in "${prefixes[@]}"; do
	topo_down "$p"
	check_eq "$p: no namespace left" "" "$(ip netns list | awk '{print $1}' | grep -E "^$p-" || true)"
	check_eq "$p: no state directory left" "" "$(ls -d "$(topo_state_dir "$p")" 2>/dev/null || true)"
	if topo_down "$p"; then ok "$p: topo_down is idempotent"; else bad "$p: second topo_down failed"; fi
done
alive=()
for pid in "${pids[@]}"; do
	if kill -0 "$pid" 2>/dev/null; then alive+=("$pid"); fi
done
check_eq "no process left" "" "${alive[*]}"
echo "  ($((SECONDS - started)) s)"
[ "$failures" -eq 0 ]
