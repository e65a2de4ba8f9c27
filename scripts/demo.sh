#!/usr/bin/env bash
# rvs demo: the LVS NAT lab, with rvsd as the director. Builds rvsd, creates a client, a
# director and two real servers (nginx answering "rs1"/"rs2") in network namespaces,
# starts rvsd with examples/demo.yaml, then curls the VIP the way the LVS tutorials do
# (`while true; do curl VIP; done`) and sends UDP queries, and tears everything down.
# Non-interactive (CI-safe); needs root on Debian 12.
# Environment: RVSD (use this rvsd binary, skip the build), RVS_DEMO_CONFIG (YAML file,
# default examples/demo.yaml), RVS_DEMO_REQUESTS (number of curls, default 10).
set -euo pipefail
exec </dev/null

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=SCRIPTDIR/netns.sh
source "$root/scripts/netns.sh"

prefix=rvsdemo
config=${RVS_DEMO_CONFIG:-$root/examples/demo.yaml}
requests=${RVS_DEMO_REQUESTS:-10}
log=$(mktemp /tmp/rvs-demo-rvsd.XXXXXX.log)
rvsd_pid=""

say() { printf '\n==> %s\n' "$*"; }

exec 7>&1 8>&2 # the script's own stdout/stderr, for cleanup()
cleanup() {
	local rc=$?
	set +e
	trap '' INT TERM
	exec 1>&7 2>&8
	if [ -n "$rvsd_pid" ]; then
		say "stopping rvsd (SIGTERM)"
		kill -TERM "$rvsd_pid" 2>/dev/null
		for _ in $(seq 1 100); do
			kill -0 "$rvsd_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$rvsd_pid" 2>/dev/null
		wait "$rvsd_pid" 2>/dev/null
	fi
	if [ "$rc" -ne 0 ] && [ -s "$log" ]; then
		echo "--- rvsd output (last 30 lines) ---"
		tail -n 30 "$log"
	fi
	say "removing the namespaces"
	topo_down "$prefix"
	rm -f -- "$log"
	if [ "$rc" -eq 0 ]; then echo "demo: done"; else echo "demo: FAILED (exit $rc)"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ "$(id -u)" -eq 0 ] || {
	echo "demo: run as root (it creates network namespaces)" >&2
	exit 1
}

say "dependencies"
bash "$root/scripts/install-deps.sh"

if [ -n "${RVSD:-}" ]; then
	rvsd=$RVSD
else
	say "building rvsd and rvsadm (cargo build --release -p control --bins)"
	# rustup installs into ~/.cargo/bin, which non-login shells (sudo, CI) may lack.
	if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
		PATH=$HOME/.cargo/bin:$PATH
	fi
	command -v cargo >/dev/null || {
		echo "demo: cargo not found; install Rust first (https://rustup.rs)" >&2
		exit 1
	}
	cargo build --release -p control --bins
	rvsd=${CARGO_TARGET_DIR:-$root/target}/release/rvsd
fi
[ -x "$rvsd" ] || {
	echo "demo: no rvsd binary at $rvsd" >&2
	exit 1
}
[ -r "$config" ] || {
	echo "demo: configuration $config not found" >&2
	exit 1
}

say "hugepages (optional: the demo configuration runs DPDK with --no-huge)"
bash "$root/scripts/hugepages.sh" || echo "hugepages unavailable; continuing"

say "network namespaces: client, director, switch, two real servers"
topo_up "$prefix"
rs_start_http "$prefix"
rs_start_udp_echo "$prefix"
client=$(topo_ns "$prefix" c)
director=$(topo_ns "$prefix" lb)
cat <<EOF
  $client   eth0 $TOPO_CLIENT_ADDR/24, default via $TOPO_WAN_GW
  $director  rvs-wan, rvs-lan: no kernel addresses, rvsd drives them through AF_PACKET
  $(topo_ns "$prefix" rs1)  $TOPO_RS1_ADDR/24 nginx :80 ("rs1"), UDP echo :5353, default via $TOPO_LAN_GW
  $(topo_ns "$prefix" rs2)  $TOPO_RS2_ADDR/24 nginx :80 ("rs2"), UDP echo :5353, default via $TOPO_LAN_GW
EOF

say "starting rvsd --config ${config#"$root"/} in $director"
topo_bg "$prefix" lb "$log" "$rvsd" --config "$config"
rvsd_pid=$TOPO_BG_PID
deadline=$((SECONDS + 30))
until http_get "$client" "http://$TOPO_VIP/" 1 >/dev/null 2>&1; do
	kill -0 "$rvsd_pid" 2>/dev/null || {
		echo "demo: rvsd exited" >&2
		exit 1
	}
	[ "$SECONDS" -lt "$deadline" ] || {
		echo "demo: the VIP $TOPO_VIP did not answer within 30 s" >&2
		exit 1
	}
	sleep 0.2
done
echo "  the VIP $TOPO_VIP answers"

say "client: for i in \$(seq $requests); do curl -s http://$TOPO_VIP/; done"
prev="" alternating=yes
for _ in $(seq 1 "$requests"); do
	body=$(http_get "$client" "http://$TOPO_VIP/" 3 || echo "(no answer)")
	echo "  $body"
	[ "$body" != "$prev" ] || alternating=no
	prev=$body
	sleep 0.2
done

say "client: two UDP queries to $TOPO_VIP:5353"
for q in hello world; do
	echo "  $q -> $(udp_query "$client" "$TOPO_VIP" 5353 "$q" 3 || echo "(no answer)")"
done

if [ -x "$(dirname "$rvsd")/rvsadm" ]; then
	say "director: rvsadm -Ln (ipvsadm's listing, from rvsd's admin API)"
	# Workers publish their per-real-server counts every 100 ms.
	sleep 0.3
	if table=$(timeout 5 ip netns exec "$director" "$(dirname "$rvsd")/rvsadm" -Ln 2>&1) &&
		[ -n "$table" ]; then
		printf '%s\n' "$table" | sed 's/^/  /'
	else
		echo "  (no listing from rvsadm: ${table:-no output})"
	fi
fi

say "what happened"
cat <<EOF
  rvsd, a user-space IPVS running on DPDK, owns the director's two ports. It answered the
  client's ARP for the VIP $TOPO_VIP and the real servers' ARP for their gateway
  $TOPO_LAN_GW. Each curl opened a new TCP connection to $TOPO_VIP:80: rvsd's round-robin
  scheduler picked a real server, rewrote the destination to it (NAT / masquerading,
  ipvsadm -m) and the reply's source back to the VIP on the way out, so the answers
  alternate rs1, rs2, ... (alternating: $alternating). The UDP virtual service on
  port 5353 works the same way, one new flow per query. The real servers see the
  client's own address $TOPO_CLIENT_ADDR, as with LVS-NAT.
EOF
[ "$alternating" = yes ]
