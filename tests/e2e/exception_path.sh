#!/usr/bin/env bash
# The exception path: traffic for the director itself goes through rvsd's kernel
# interfaces (net_tap, one per data port, with the port's MAC and addresses), and what the
# director's kernel sends leaves by the data ports. rvsd runs two workers on two-queue
# af_packet ports (the TAPs then have a queue pair per worker too). Checks:
#   - the kernel interfaces rvs-wan0/rvs-lan0 exist in the director namespace with the
#     configured addresses and the configured route, and a reload moves the route;
#   - ping from the client to the director's WAN address is answered once per request (by
#     the kernel behind the TAP: the dataplane's own echo-reply counter stays put, and
#     the kernel side of the af_packet ports stays silent), while a ping to the VIP is
#     still answered by the dataplane;
#   - a TCP server in the director namespace bound to the WAN address answers a curl from
#     the client;
#   - from the director namespace, curl reaches both real servers directly (the kernel's
#     path to the LAN side: what health checks need);
#   - VIP traffic keeps alternating rs1/rs2 in between;
#   - /v1/stats and /metrics count packets to and from the kernel on both interfaces;
#   - a UDP flood to the director's address is cut by the rate limit (drops counted,
#     packets to the kernel bounded by rate x time) and the VIP still answers during it;
#   - rvsd stops cleanly on SIGTERM and its kernel interfaces disappear.
# Environment: RVSD (path of rvsd; default target/release/rvsd of this repository),
# RVS_E2E_WORKERS (2, the default, or 1), E2E_VERBOSE (print rvsd's output on success).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns.sh
source "$root/scripts/netns.sh"
# shellcheck source=SCRIPTDIR/lib_rvsd.sh
source "$here/lib_rvsd.sh"

workers=${RVS_E2E_WORKERS:-2}
name=exception_path
prefix="rvsx$$"
rate=500 # exception_rate: packets per second per worker to the kernel

e2e_begin

cat >"$tmp/rvs.yaml" <<EOF
dataplane:
  main_lcore: 0
  worker_lcores: [$(seq -s, 1 "$workers")]
  polling: adaptive
  eal_args: ["--no-huge", "-m", "512"]
  exception_rate: $rate

interfaces:
  - name: wan0
    device: "net_af_packet0,iface=rvs-wan,qpairs=$workers"
    addresses: [198.18.0.254/24]
  - name: lan0
    device: "net_af_packet1,iface=rvs-lan,qpairs=$workers"
    addresses: [198.19.0.254/24]
    kernel_name: rvs-lan0

routes:
  - { prefix: 198.19.128.0/24, via: 198.19.0.11, interface: lan0 }

services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: rr
    method: masq
    real_servers:
      - { address: 198.19.0.11, port: 80 }
      - { address: 198.19.0.12, port: 80 }
EOF

topo_up "$prefix"
rs_start_http "$prefix"
client=$(topo_ns "$prefix" c)
lb=$(topo_ns "$prefix" lb)
wan_addr=$TOPO_WAN_GW

start_rvsd --config "$tmp/rvs.yaml" --stats-file "$tmp/stats.json"
echo "rvsd started (pid $rvsd_pid, $workers workers) in $lb"
started=$SECONDS
wait_vip "$client" 20
echo "VIP $TOPO_VIP answers HTTP after $((SECONDS - started)) s"

# The kernel interfaces, their addresses and the route through lan0.
ip -n "$lb" -4 addr show dev rvs-wan0 | grep -q "inet $wan_addr/24" ||
	fail "rvs-wan0 lacks $wan_addr/24: $(ip -n "$lb" -4 addr show dev rvs-wan0 2>&1)"
ip -n "$lb" -4 addr show dev rvs-lan0 | grep -q "inet $TOPO_LAN_GW/24" ||
	fail "rvs-lan0 lacks $TOPO_LAN_GW/24"
ip -n "$lb" route show 198.19.128.0/24 | grep -q "via 198.19.0.11 dev rvs-lan0" ||
	fail "route 198.19.128.0/24 not installed in the director's kernel: $(ip -n "$lb" route)"
wan_mac=$(ip netns exec "$lb" cat /sys/class/net/rvs-wan/address)
tap_mac=$(ip netns exec "$lb" cat /sys/class/net/rvs-wan0/address)
[ "$wan_mac" = "$tap_mac" ] || fail "rvs-wan0 has MAC $tap_mac, its data port $wan_mac"
echo "kernel interfaces rvs-wan0 ($tap_mac) and rvs-lan0 carry the director's addresses"

stats() { ip netns exec "$lb" curl -sf --max-time 5 http://127.0.0.1:9180/v1/stats; }
stats >"$tmp/s0.json" || fail "no /v1/stats"

vip_rounds=0
prev=""
# Two VIP requests that must continue the strict rs1/rs2 alternation.
vip_check() {
	local i body
	for i in 1 2; do
		body=$(http_get "$client" "http://$TOPO_VIP/" 3) || fail "VIP curl failed ($1)"
		case $body in rs1 | rs2) ;; *) fail "VIP answered '$body' ($1)" ;; esac
		[ "$body" != "$prev" ] || fail "VIP gave $body twice in a row ($1): rr must alternate"
		prev=$body
		vip_rounds=$((vip_rounds + 1))
	done
}
vip_check "before the exception-path checks"

# Ping the director's own address: the kernel answers through rvs-wan0.
ip netns exec "$client" ping -c 3 -i 0.2 -w 10 "$wan_addr" >"$tmp/ping.txt" ||
	fail "ping $wan_addr failed: $(cat "$tmp/ping.txt")"
grep -q " 0% packet loss" "$tmp/ping.txt" || fail "ping $wan_addr lost packets: $(tail -2 "$tmp/ping.txt")"
# One answer per request: only the kernel behind the TAP answers, not also the kernel
# side of the af_packet data port (rvsd sets arp_ignore=8 and rp_filter=1 there).
! grep -q "duplicates" "$tmp/ping.txt" || fail "ping $wan_addr got duplicate answers: $(tail -2 "$tmp/ping.txt")"
for dev in rvs-wan rvs-lan; do
	[ "$(ip netns exec "$lb" cat "/proc/sys/net/ipv4/conf/$dev/arp_ignore")" = 8 ] || fail "arp_ignore of $dev is not 8"
	[ "$(ip netns exec "$lb" cat "/proc/sys/net/ipv4/conf/$dev/rp_filter")" = 1 ] || fail "rp_filter of $dev is not 1"
done
echo "ping $wan_addr: $(grep -o '[0-9]* received' "$tmp/ping.txt")"
stats >"$tmp/s1.json" || fail "no /v1/stats"
vip_check "after ping"

# The VIP's pings stay in the dataplane.
ip netns exec "$client" ping -c 1 -w 10 "$TOPO_VIP" >/dev/null || fail "ping $TOPO_VIP failed"
stats >"$tmp/s2.json" || fail "no /v1/stats"

# A TCP server of the director's own, reached from the client.
mkdir -p "$tmp/www"
echo director >"$tmp/www/index.html"
chmod -R a+rX "$tmp"
topo_bg "$prefix" lb "$tmp/http.log" "$(_topo_python)" -m http.server --bind "$wan_addr" --directory "$tmp/www" 8080
wait_listen "$lb" tcp 8080 10 "$TOPO_BG_PID" || fail "HTTP server in the director namespace did not start"
for i in 1 2 3; do
	body=$(http_get "$client" "http://$wan_addr:8080/" 5) || fail "curl http://$wan_addr:8080/ #$i from the client failed"
	[ "$body" = director ] || fail "curl http://$wan_addr:8080/ answered '$body'"
done
echo "the director's own HTTP server at $wan_addr:8080 answered the client 3 times"
vip_check "after the director's HTTP server"

# The director's kernel reaches the real servers directly (health checks go this way).
for rs in rs1 rs2; do
	addr=$([ $rs = rs1 ] && echo "$TOPO_RS1_ADDR" || echo "$TOPO_RS2_ADDR")
	body=$(http_get "$lb" "http://$addr/" 5) || fail "curl http://$addr/ from the director namespace failed"
	[ "$body" = "$rs" ] || fail "curl http://$addr/ from the director answered '$body'"
done
echo "the director's kernel reached rs1 and rs2 over rvs-lan0"
vip_check "after the director's curls"
stats >"$tmp/s3.json" || fail "no /v1/stats"

python3 - "$tmp/s0.json" "$tmp/s1.json" "$tmp/s2.json" "$tmp/s3.json" <<'PY' || fail "exception-path counters are wrong"
import json, sys
s = [json.load(open(p)) for p in sys.argv[1:]]
def port(i, name, key):
    return [p for p in s[i]["ports"] if p["name"] == name][0][key]
def d(a, b, name, key):
    return port(b, name, key) - port(a, name, key)
print("wan0 to/from kernel:", port(3, "wan0", "to_kernel_packets"), port(3, "wan0", "from_kernel_packets"),
      " lan0 to/from kernel:", port(3, "lan0", "to_kernel_packets"), port(3, "lan0", "from_kernel_packets"))
# 3 echo requests in, 3 replies out (plus possibly ARP both ways).
assert d(0, 1, "wan0", "to_kernel_packets") >= 3, "pings did not reach the kernel"
assert d(0, 1, "wan0", "from_kernel_packets") >= 3, "the kernel's echo replies did not leave"
# The kernel answered those pings, not the dataplane; the VIP's ping the dataplane did.
assert s[1]["icmp_echo_replies"] == s[0]["icmp_echo_replies"], "the dataplane answered the director's ping"
assert s[2]["icmp_echo_replies"] == s[1]["icmp_echo_replies"] + 1, "the VIP's ping was not answered by the dataplane"
assert d(1, 2, "wan0", "to_kernel_packets") == 0, "the VIP's ping went to the kernel"
# 3 HTTP exchanges with the client (>= 5 packets each way) and 2 with the real servers.
assert d(2, 3, "wan0", "to_kernel_packets") >= 15 and d(2, 3, "wan0", "from_kernel_packets") >= 15
assert d(2, 3, "lan0", "to_kernel_packets") >= 10 and d(2, 3, "lan0", "from_kernel_packets") >= 10
assert s[3]["drops"]["exception_rate_limited"] == 0, s[3]["drops"]
assert s[3]["drops"]["for_director"] == 0, s[3]["drops"]
PY
ip netns exec "$lb" curl -sf --max-time 5 http://127.0.0.1:9180/metrics >"$tmp/metrics.txt" || fail "no /metrics"
grep -Eq '^rvs_port_to_kernel_packets_total\{interface="lan0",worker="[0-9]+"\} [1-9]' "$tmp/metrics.txt" ||
	fail "/metrics lacks rvs_port_to_kernel_packets_total for lan0"
grep -Eq '^rvs_port_from_kernel_packets_total\{interface="wan0",worker="[0-9]+"\} [1-9]' "$tmp/metrics.txt" ||
	fail "/metrics lacks rvs_port_from_kernel_packets_total for wan0"

# A UDP flood to the director's address (discard port): the rate limit cuts it, the
# drops are counted, and the VIP keeps answering meanwhile.
stats >"$tmp/f0.json" || fail "no /v1/stats"
ip netns exec "$client" "$(_topo_python)" - "$wan_addr" >"$tmp/flood.txt" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
start, n = time.monotonic(), 0
while time.monotonic() - start < 2.0:
    for _ in range(100):
        try:
            s.sendto(b"x" * 18, (sys.argv[1], 9))
            n += 1
        except (BlockingIOError, ConnectionRefusedError):
            pass
print(n, time.monotonic() - start)
PY
flood_pid=$!
sleep 0.5
vip_check "during a flood to the director"
wait "$flood_pid" || fail "the flood sender failed"
sleep 0.3
stats >"$tmp/f1.json" || fail "no /v1/stats"
python3 - "$tmp/f0.json" "$tmp/f1.json" "$tmp/flood.txt" "$rate" "$workers" <<'PY' || fail "the rate limit did not hold"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
sent, secs = open(sys.argv[3]).read().split()
sent, secs, rate, workers = int(sent), float(secs), int(sys.argv[4]), int(sys.argv[5])
def tk(s):
    return sum(p["to_kernel_packets"] for p in s["ports"])
passed = tk(b) - tk(a)
dropped = b["drops"]["exception_rate_limited"] - a["drops"]["exception_rate_limited"]
burst = max(rate // 100, 32)
bound = workers * (rate * (secs + 1.0) + burst)
print(f"flood: {sent} packets in {secs:.1f} s; to the kernel {passed} (bound {bound:.0f}), rate-limited {dropped}")
assert dropped > 0, "nothing was rate-limited"
assert passed <= bound, "more packets reached the kernel than the rate limit allows"
assert passed > 0, "nothing reached the kernel"
PY
# The director still answers its own pings after the flood.
ip netns exec "$client" ping -c 2 -i 0.2 -w 10 "$wan_addr" >/dev/null || fail "ping $wan_addr failed after the flood"

# A reload that moves the route moves it in the kernel too (SIGHUP re-reads the file).
sed -i 's|198.19.128.0/24, via: 198.19.0.11|198.19.129.0/24, via: 198.19.0.12|' "$tmp/rvs.yaml"
gen0=$(stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
kill -HUP "$rvsd_pid"
for _ in $(seq 50); do
	ip -n "$lb" route show 198.19.129.0/24 | grep -q "via 198.19.0.12 dev rvs-lan0" && break
	sleep 0.1
done
ip -n "$lb" route show 198.19.129.0/24 | grep -q "via 198.19.0.12 dev rvs-lan0" ||
	fail "route 198.19.129.0/24 not in the director's kernel after the reload: $(ip -n "$lb" route)"
[ -z "$(ip -n "$lb" route show 198.19.128.0/24)" ] ||
	fail "the removed route 198.19.128.0/24 is still in the director's kernel"
gen1=$(stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
[ "$gen1" -gt "$gen0" ] || fail "the reload did not apply (generation $gen0 -> $gen1)"
echo "reload moved the kernel route to 198.19.129.0/24 via 198.19.0.12 (generation $gen0 -> $gen1)"
vip_check "after the reload"

echo "VIP answered $vip_rounds times, alternating rs1/rs2 throughout"

stop_rvsd || fail "rvsd did not stop cleanly on SIGTERM"
if ip -n "$lb" link show rvs-wan0 >/dev/null 2>&1; then
	fail "rvs-wan0 still exists after rvsd stopped"
fi
echo "($((SECONDS - started)) s after rvsd start)"
