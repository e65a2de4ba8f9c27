#!/usr/bin/env bash
# Tier-3 end-to-end test: after rvsd restarts, the real servers still take every new
# FULLNAT connection at once, though they hold the local ports in TIME_WAIT from the
# previous rvsd process (issue #25 item 1).
#   - The topology of fullnat_port_reuse.sh: a SNAT pool of 8 ports and a client limited
#     to 8 source ports, so 40 sequential HTTP/1.0 connections (the server closes first)
#     leave the `local address:port -> real server` tuples (8 to 16) in TIME_WAIT on rs1
#     and rs2.
#   - rvsd is stopped (SIGTERM) and started again with the same configuration and run
#     directory, and 40 more connections reuse the same tuples within the servers'
#     TIME_WAIT (60 s). Linux accepts such a SYN (FULLNAT SYNs carry no timestamps) only
#     if its sequence number lies after the old connection's: the restarted rvsd must go
#     on numbering where the old one was (its kept secret and a real-time clock), else
#     about half of the tuples refuse the first SYN and the client retries a second later.
#   - Every connection must answer, none may take more than 0.5 s, and the client must
#     count no SYN retransmission (TcpExtTCPSynRetrans) in the second burst.
# Environment: RVSD (path of rvsd; default target/release/rvsd of this repository),
# E2E_VERBOSE (non-empty: print rvsd's output even when the test passes).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns.sh
source "$root/scripts/netns.sh"
# shellcheck source=SCRIPTDIR/lib_rvsd.sh
source "$here/lib_rvsd.sh"

name=fullnat_restart
prefix="fnrst$$"
stop_timeout=10

e2e_begin

cat >"$tmp/rvs.yaml" <<EOF
$(rvsd_yaml_ports 1)

snat_pools:
  - { name: small, addresses: [198.19.0.250], ports: 20000-20007 }

services:
  - { proto: tcp, vip: 198.18.0.100, port: 80, scheduler: rr, method: fullnat, snat_pool: small,
      real_servers: [ { address: 198.19.0.11 }, { address: 198.19.0.12 } ] }
EOF
# One run directory for both rvsd processes (where rvsd keeps its sequence-number secret).
mkdir -p "$tmp/run"

topo_up "$prefix"
rs_start_http "$prefix"
client=$(topo_ns "$prefix" c)
rs1=$(topo_ns "$prefix" rs1)
rs2=$(topo_ns "$prefix" rs2)
# Eight source ports: the client reuses them as soon as a connection has closed.
ip netns exec "$client" sh -c 'echo "41000 41007" >/proc/sys/net/ipv4/ip_local_port_range'

# burst LABEL: 40 sequential new connections from the client; fails the test if one
# fails, answers wrongly or takes more than 0.5 s.
burst() {
	ip netns exec "$client" python3 "$here/helpers/sequential_http.py" "$TOPO_VIP" 40 "$1" ||
		fail "$1: connections failed or stalled"
}

# The local-port tuples rs1 and rs2 hold in TIME_WAIT.
time_wait() {
	local ns n=0
	for ns in "$rs1" "$rs2"; do
		n=$((n + $(ip netns exec "$ns" ss -tan state time-wait | grep -c '198.19.0.250:2000' || true)))
	done
	echo "$n"
}
syn_retrans() { ip netns exec "$client" nstat -az TcpExtTCPSynRetrans | awk '/TCPSynRetrans/ {print $2}'; }

start_rvsd --config "$tmp/rvs.yaml" --run-dir "$tmp/run"
echo "rvsd started (pid $rvsd_pid)"
wait_vip "$client" 20
burst "first rvsd"
stop_rvsd || fail "rvsd did not stop cleanly on SIGTERM"

held=$(time_wait)
echo "the real servers hold $held local-port tuples in TIME_WAIT"
# 8 local ports, each to one real server or both.
[ "$held" -ge 8 ] || fail "only $held local-port tuples in TIME_WAIT: the test would not exercise reuse"

start_rvsd --config "$tmp/rvs.yaml" --run-dir "$tmp/run"
echo "rvsd restarted (pid $rvsd_pid)"
# Wait for the VIP without a connection of our own (one could take a tuple out of
# TIME_WAIT before the measured burst): the director answers ARP for it once it runs.
deadline=$((SECONDS + 20))
until ip netns exec "$client" ping -c1 -W1 "$TOPO_VIP" >/dev/null 2>&1; do
	kill -0 "$rvsd_pid" 2>/dev/null || fail "rvsd exited after the restart"
	[ "$SECONDS" -lt "$deadline" ] || fail "the VIP did not answer ping within 20 s of the restart"
done
retrans_before=$(syn_retrans)
burst "restarted rvsd"
retrans_after=$(syn_retrans)
echo "client TcpExtTCPSynRetrans: ${retrans_before:-0} -> ${retrans_after:-0}"
[ "${retrans_after:-0}" -eq "${retrans_before:-0}" ] ||
	fail "the client retransmitted SYNs after the restart: real servers refused them"

stop_rvsd || fail "rvsd did not stop cleanly on SIGTERM"
