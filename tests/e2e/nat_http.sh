#!/usr/bin/env bash
# Tier-3 end-to-end test of NAT (IPVS masq) through rvsd, as in the LVS NAT labs:
# a client namespace curls the VIP 198.18.0.100:80 and rvsd (on net_af_packet vdevs bound
# to the director namespace's veth ends) spreads the connections round robin over two
# real servers running nginx, which use the director as their gateway. Checks:
#   - the VIP answers within 20 s of rvsd's start (ARP for the VIP and gateway, NAT both ways);
#   - 20 sequential curls alternate rs1/rs2 strictly (rr, one new connection each);
#   - UDP 198.18.0.100:5353 answers from rs1 or rs2 with the VIP as the source, two
#     consecutive queries alternate, and the real servers saw the client's own address
#     (masq rewrites the destination only);
#   - rvsd stops cleanly (exit status 0 within 10 s) on SIGTERM.
# Environment: RVSD (path of rvsd; default target/release/rvsd of this repository),
# RVS_E2E_PMD (af_packet, the default, or af_xdp: the DPDK driver bound to the veths),
# RVS_E2E_WORKERS (1, the default, or 2: two workers on a two-queue port, where the
#   kernel's fanout spreads packets over both queues and rvsd must steer each flow to its
#   owner worker; the test then also checks both workers received and steered packets),
# E2E_VERBOSE (non-empty: print rvsd's output even when the test passes).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns.sh
source "$root/scripts/netns.sh"
# shellcheck source=SCRIPTDIR/lib_rvsd.sh
source "$here/lib_rvsd.sh"

pmd=${RVS_E2E_PMD:-af_packet}
workers=${RVS_E2E_WORKERS:-1}
name=nat_http
[ "$pmd" = af_packet ] || name="nat_http ($pmd)"
[ "$workers" = 1 ] || name="$name ($workers workers)"
prefix="rvs$$"
vip_timeout=20
stop_timeout=10

e2e_begin

case $pmd in
af_packet)
	wan_dev="net_af_packet0,iface=rvs-wan,qpairs=$workers"
	lan_dev="net_af_packet1,iface=rvs-lan,qpairs=$workers"
	;;
af_xdp)
	# Without an explicit queue one af_xdp port fails to probe on veth (seen with DPDK 22.11).
	wan_dev="net_af_xdp0,iface=rvs-wan,start_queue=0,queue_count=1"
	lan_dev="net_af_xdp1,iface=rvs-lan,start_queue=0,queue_count=1"
	;;
*) fail "RVS_E2E_PMD=$pmd: expected af_packet or af_xdp" ;;
esac

# Same content as examples/demo.yaml (with af_packet), generated here so the test does
# not depend on it.
cat >"$tmp/rvs.yaml" <<EOF
dataplane:
  main_lcore: 0
  worker_lcores: [$(seq -s, 1 "$workers")]
  polling: adaptive
  eal_args: ["--no-huge", "-m", "512"]

interfaces:
  - name: wan0
    device: "$wan_dev"
    addresses: [198.18.0.254/24]
  - name: lan0
    device: "$lan_dev"
    addresses: [198.19.0.254/24]

services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: rr
    method: masq
    real_servers:
      - { address: 198.19.0.11, port: 80 }
      - { address: 198.19.0.12, port: 80 }
  - proto: udp
    vip: 198.18.0.100
    port: 5353
    scheduler: rr
    method: masq
    real_servers:
      - { address: 198.19.0.11, port: 5353 }
      - { address: 198.19.0.12, port: 5353 }
EOF

topo_up "$prefix"
rs_start_http "$prefix"
rs_start_udp_echo "$prefix"
client=$(topo_ns "$prefix" c)
state=$(topo_state_dir "$prefix")

start_rvsd --config "$tmp/rvs.yaml" --stats-file "$tmp/stats.json"
echo "rvsd started (pid $rvsd_pid) in $(topo_ns "$prefix" lb)"

# Wait for the VIP, watching that rvsd stays alive.
started=$SECONDS
wait_vip "$client" "$vip_timeout"
echo "VIP $TOPO_VIP answers HTTP after $((SECONDS - started)) s"

# 20 sequential connections: rr must alternate strictly.
http_rr_alternates "$client"

# UDP: first answer may take an ARP round trip; then two new flows must alternate.
wait_udp "$client" "$TOPO_VIP" 5353 5 || fail "no UDP answer from $TOPO_VIP:5353"
a1=$(udp_query "$client" "$TOPO_VIP" 5353 "ping-1" 3) || fail "UDP query 1 to $TOPO_VIP:5353 unanswered"
a2=$(udp_query "$client" "$TOPO_VIP" 5353 "ping-2" 3) || fail "UDP query 2 to $TOPO_VIP:5353 unanswered"
printf '  udp 1: %s\n  udp 2: %s\n' "$a1" "$a2"
[[ "$a1" =~ ^rs[12]\ ping-1$ ]] || fail "UDP answer 1 '$a1' (expected 'rs1 ping-1' or 'rs2 ping-1')"
[[ "$a2" =~ ^rs[12]\ ping-2$ ]] || fail "UDP answer 2 '$a2' (expected 'rs1 ping-2' or 'rs2 ping-2')"
[ "${a1%% *}" != "${a2%% *}" ] || fail "two UDP flows went to ${a1%% *} (rr must alternate)"
for rs in rs1 rs2; do
	grep -q "^$TOPO_CLIENT_ADDR:" "$state/$rs-udp.log" ||
		fail "$rs never saw the client address $TOPO_CLIENT_ADDR (log: $(tr '\n' ' ' <"$state/$rs-udp.log"))"
done
echo "UDP answers came from the VIP, alternated, and the real servers saw $TOPO_CLIENT_ADDR"

# The admin API (read-only without a token file) reports each real server's connections
# as ipvsadm's ActiveConn/InActConn: every curl above made one.
ip netns exec "$(topo_ns "$prefix" lb)" curl -s --max-time 5 http://127.0.0.1:9180/v1/services >"$tmp/services.json" ||
	fail "admin API did not answer GET /v1/services"
python3 - "$tmp/services.json" <<'PY' || fail "connection counts from the admin API are wrong"
import json, sys
svcs = json.load(open(sys.argv[1]))
tcp = [s for s in svcs if s["service"].get("protocol") == "tcp"][0]
counts = {d["addr"]: d["active_conns"] + d["inactive_conns"] for d in tcp["real_servers"]}
print("connections per real server (ActiveConn + InActConn):", counts)
assert all(n >= 10 for n in counts.values()), counts
assert sum(counts.values()) >= 20, counts
PY
# /metrics counts exactly the traffic sent: 5 more UDP queries (new flows) add 5
# connections, 5 packets in and 5 out to the UDP service's counters.
lb=$(topo_ns "$prefix" lb)
scrape() { ip netns exec "$lb" curl -s --max-time 5 http://127.0.0.1:9180/metrics; }
scrape >"$tmp/m1.txt" || fail "no /metrics"
for i in 1 2 3 4 5; do
	udp_query "$client" "$TOPO_VIP" 5353 "count-$i" 3 >/dev/null || fail "UDP query count-$i unanswered"
done
scrape >"$tmp/m2.txt" || fail "no /metrics"
python3 - "$tmp/m1.txt" "$tmp/m2.txt" <<'PY' || fail "/metrics does not match the traffic sent"
import re, sys
def read(path):
    vals = {}
    for line in open(path):
        m = re.match(r'(rvs_ipvs_\w+)\{(.*)\} (\d+)', line)
        if m and 'proto="UDP"' in m.group(2) and 'remote_address' not in m.group(2):
            vals[m.group(1)] = int(m.group(3))
    return vals
a, b = read(sys.argv[1]), read(sys.argv[2])
d = {k: b[k] - a.get(k, 0) for k in b}
print("UDP service counters after 5 queries:", d)
assert d["rvs_ipvs_connections_total"] == 5, d
assert d["rvs_ipvs_incoming_packets_total"] == 5 and d["rvs_ipvs_outgoing_packets_total"] == 5, d
assert d["rvs_ipvs_incoming_bytes_total"] == 5 * (20 + 8 + len("count-1")), d
PY

# rvsadm -Lnc lists the connections the curls left behind (ipvsadm's format).
rvsadm=$(dirname "$rvsd")/rvsadm
if [ -x "$rvsadm" ]; then
	ip netns exec "$(topo_ns "$prefix" lb)" "$rvsadm" -Lnc >"$tmp/lnc.txt" || fail "rvsadm -Lnc failed: $(cat "$tmp/lnc.txt")"
	head -n 4 "$tmp/lnc.txt"
	head -n 1 "$tmp/lnc.txt" | grep -qx "IPVS connection entries" || fail "rvsadm -Lnc: unexpected header"
	n=$(grep -c "^TCP .* $TOPO_CLIENT_ADDR:[0-9]* *$TOPO_VIP:80 *198\.19\.0\.1[12]:80" "$tmp/lnc.txt" || true)
	[ "$n" -ge 20 ] || fail "rvsadm -Lnc shows $n TCP connections from the client, expected >= 20"
	echo "rvsadm -Lnc lists $n TCP connections from $TOPO_CLIENT_ADDR"
fi
if [ -x "$rvsadm" ]; then
	ip netns exec "$lb" "$rvsadm" -Ln --stats >"$tmp/stats.txt" || fail "rvsadm -Ln --stats failed"
	cat "$tmp/stats.txt"
	conns=$(awk '$1 == "TCP" && $2 == "198.18.0.100:80" {print $3}' "$tmp/stats.txt")
	[ "${conns:-0}" -ge 20 ] || fail "rvsadm -Ln --stats shows ${conns:-no} connections for the TCP service, expected >= 20"
fi
stop_rvsd || fail "rvsd did not stop cleanly on SIGTERM"
echo "($((SECONDS - started)) s after rvsd start)"
if [ "$workers" -gt 1 ]; then
	# No flow was split (every curl and echo above succeeded); check the two workers both
	# received packets and handed some to the owner, so steering was really exercised.
	python3 - "$tmp/stats.json" <<'PY' || fail "workers did not share the traffic as expected"
import json, sys
s = json.load(open(sys.argv[1]))
per = s["per_worker"]
print("per worker rx:", [w["rx_packets"] for w in per], "steered out:", [w["steered_out"] for w in per],
      "connections:", [w["conns_created"] for w in per])
assert len(per) >= 2 and all(w["rx_packets"] > 0 for w in per), "a worker received nothing"
assert sum(w["steered_out"] for w in per) > 0, "no packet was steered"
assert sum(w["steered_in"] for w in per) == sum(w["steered_out"] for w in per)
PY
	# The steering rings are visible in /metrics (drained by now: 0 queued).
	grep -q '^rvs_steering_ring_capacity{from_worker="0",to_worker="1"} 4095$' "$tmp/m2.txt" ||
		fail "/metrics has no steering ring gauges"
	grep -q '^rvs_steering_ring_packets{from_worker="1",to_worker="0"} [0-9]' "$tmp/m2.txt" ||
		fail "/metrics has no steering ring usage"
fi
