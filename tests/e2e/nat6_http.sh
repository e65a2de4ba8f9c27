#!/usr/bin/env bash
# Tier-3 end-to-end test of NAT (IPVS masq) over IPv6 through rvsd: the netns topology
# with IPv6 added (topo_ipv6_up: client 2001:2::1/64, real servers 2001:2:0:1::11 and
# ::12/64 with the director 2001:2:0:1::fe as gateway). rvsd answers neighbour
# solicitations for the VIP and its own addresses and resolves the real servers by NDP.
# Checks:
#   - the VIP [2001:2::100]:80 answers curl -6 within 20 s of rvsd's start;
#   - 20 sequential curls alternate rs1/rs2 strictly (rr);
#   - the real servers saw the client's own address 2001:2::1 (masq rewrites the
#     destination only);
#   - ping -6 of the VIP is answered by rvsd;
#   - a UDP datagram to [VIP]:5353 (nothing listens on the real servers) gets the real
#     server kernel's ICMPv6 "port unreachable" back, translated by rvsd so the client's
#     connected socket sees it as ECONNREFUSED (ICMPv6 error NAT, ip_vs_out_icmp_v6);
#   - rvsd stops cleanly (exit status 0 within 10 s) on SIGTERM.
# Environment: RVSD (path of rvsd; default target/release/rvsd of this repository),
# RVS_E2E_WORKERS (1, the default, or 2: two workers on two-queue ports, so IPv6 flows
#   are steered to their owner worker and neighbours learned by one reach the other),
# E2E_VERBOSE (non-empty: print rvsd's output even when the test passes).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns.sh
source "$root/scripts/netns.sh"
# shellcheck source=SCRIPTDIR/lib_rvsd.sh
source "$here/lib_rvsd.sh"

workers=${RVS_E2E_WORKERS:-1}
name=nat6_http
[ "$workers" = 1 ] || name="$name ($workers workers)"
prefix="rvs6-$$"
vip_timeout=20
stop_timeout=10
vip_url="http://[$TOPO_VIP6]/"

e2e_begin

cat >"$tmp/rvs.yaml" <<EOF
$(rvsd_yaml_ports "$workers" ipv6)

services:
  - proto: tcp
    vip: "$TOPO_VIP6"
    port: 80
    scheduler: rr
    method: masq
    real_servers:
      - { address: "$TOPO_RS1_ADDR6", port: 80 }
      - { address: "$TOPO_RS2_ADDR6", port: 80 }
  - proto: udp
    vip: "$TOPO_VIP6"
    port: 5353
    scheduler: rr
    method: masq
    real_servers:
      - { address: "$TOPO_RS1_ADDR6", port: 5353 }
      - { address: "$TOPO_RS2_ADDR6", port: 5353 }
EOF

topo_up "$prefix"
topo_ipv6_up "$prefix"
client=$(topo_ns "$prefix" c)
state=$(topo_state_dir "$prefix")

# One small HTTP server per real server on its IPv6 address; its request log (stderr)
# names the peer address the server saw.
declare -A rs_pid=()
for rs in rs1 rs2; do
	case $rs in
	rs1) addr=$TOPO_RS1_ADDR6 ;;
	rs2) addr=$TOPO_RS2_ADDR6 ;;
	esac
	mkdir -p "$state/$rs-www"
	printf '%s\n' "$rs" >"$state/$rs-www/index.html"
	topo_bg "$prefix" "$rs" "$state/$rs-http6.log" "$(_topo_python)" -m http.server \
		--bind "$addr" --directory "$state/$rs-www" 80
	rs_pid[$rs]=$TOPO_BG_PID
done
for rs in rs1 rs2; do
	wait_listen "$(topo_ns "$prefix" "$rs")" tcp 80 10 "${rs_pid[$rs]}" ||
		fail "$rs: HTTP server did not start ($(cat "$state/$rs-http6.log"))"
done

start_rvsd --config "$tmp/rvs.yaml" --stats-file "$tmp/stats.json"
echo "rvsd started (pid $rvsd_pid) in $(topo_ns "$prefix" lb)"

started=$SECONDS
deadline=$((SECONDS + vip_timeout))
until ip netns exec "$client" curl -6 -sSf --noproxy '*' --connect-timeout 1 -m 1 "$vip_url" >/dev/null 2>&1; do
	kill -0 "$rvsd_pid" 2>/dev/null || fail "rvsd exited before the VIP answered"
	[ "$SECONDS" -lt "$deadline" ] || fail "no HTTP answer from $vip_url within ${vip_timeout}s"
	sleep 0.2
done
echo "VIP $vip_url answers HTTP after $((SECONDS - started)) s"

prev=""
for i in $(seq 1 20); do
	body=$(ip netns exec "$client" curl -6 -sSf --noproxy '*' --connect-timeout 3 -m 3 "$vip_url") ||
		fail "curl -6 #$i to $vip_url failed"
	printf '  curl -6 #%-2d %s\n' "$i" "$body"
	case $body in
	rs1 | rs2) ;;
	*) fail "curl #$i: unexpected body '$body' (expected rs1 or rs2)" ;;
	esac
	[ "$body" != "$prev" ] || fail "curl #$i: $body twice in a row (rr must alternate)"
	prev=$body
done
echo "20 HTTP requests over IPv6 alternated rs1/rs2"

for rs in rs1 rs2; do
	n=$(grep -c "^$TOPO_CLIENT_ADDR6 - - .*\"GET / HTTP" "$state/$rs-http6.log" || true)
	[ "$n" -ge 10 ] || fail "$rs logged $n requests from $TOPO_CLIENT_ADDR6, expected >= 10 (log: $(tail -n 3 "$state/$rs-http6.log" | tr '\n' ' '))"
done
echo "the real servers saw the client address $TOPO_CLIENT_ADDR6"

ip netns exec "$client" ping -6 -c 2 -i 0.2 -W 2 "$TOPO_VIP6" >"$tmp/ping.txt" ||
	fail "ping -6 $TOPO_VIP6 failed: $(cat "$tmp/ping.txt")"
echo "ping -6 $TOPO_VIP6 answered"

# The client's kernel matches the error's quote against its socket (client -> VIP:5353):
# only a correctly translated error (source VIP, quote restored, checksums right) makes
# recv fail with ECONNREFUSED rather than time out.
ip netns exec "$client" python3 - "$TOPO_VIP6" >"$tmp/udp.txt" 2>&1 <<'PY' ||
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect((sys.argv[1], 5353))
s.send(b"anyone?")
try:
    s.recv(100)
    sys.exit("got an answer, expected port unreachable")
except ConnectionRefusedError:
    print("ECONNREFUSED")
except socket.timeout:
    sys.exit("no ICMPv6 error reached the client socket within 3 s")
PY
	fail "UDP to [$TOPO_VIP6]:5353: $(cat "$tmp/udp.txt")"
echo "ICMPv6 port unreachable from the real server reached the client socket (ECONNREFUSED)"

stop_rvsd || fail "rvsd did not stop cleanly on SIGTERM"
python3 - "$tmp/stats.json" <<'PY' || fail "counters do not match the traffic"
import json, sys
s = json.load(open(sys.argv[1]))
print("conns_created:", s["conns_created"], "nd/arp replies:", s["arp_replies"],
      "echo replies:", s["icmp_echo_replies"],
      "icmpv6 errors translated:", s["icmpv6_errors_translated"],
      "drops:", {k: v for k, v in s["drops"].items() if v})
assert s["conns_created"] >= 21, s["conns_created"]
assert s["icmp_echo_replies"] >= 2
assert s["icmpv6_errors_translated"] >= 1, s["icmpv6_errors_translated"]
PY
if [ "$workers" -gt 1 ]; then
	# Every curl succeeded, so no IPv6 flow was split; check both workers received
	# packets and handed some to the owner, so steering by client address was exercised.
	python3 - "$tmp/stats.json" <<'PY' || fail "workers did not share the traffic as expected"
import json, sys
per = json.load(open(sys.argv[1]))["per_worker"]
print("per worker rx:", [w["rx_packets"] for w in per], "steered out:", [w["steered_out"] for w in per])
assert len(per) >= 2 and all(w["rx_packets"] > 0 for w in per), "a worker received nothing"
assert sum(w["steered_out"] for w in per) > 0, "no packet was steered"
PY
fi
echo "($((SECONDS - started)) s after rvsd start)"
