#!/usr/bin/env bash
# Health checks of IPv6 real servers over the IPv6 exception path: an IPv6 NAT service
# ([2001:2::100]:80, rr) with two IPv6 real servers and an HTTP check run by rvsd through
# the director's kernel (topo_ipv6_up addressing). Checks:
#   - the kernel interfaces carry the director's IPv6 addresses (no link-local of their
#     own where the kernel has addr_gen_mode);
#   - both real servers come up, and the checks reached them from the director's LAN
#     address 2001:2:0:1::fe (the kernel picked the TAP's IPv6 address as the source);
#     the kernel resolved them by NDP through the TAP (its neighbour table has their MACs);
#   - curl -6 to the VIP alternates rs1/rs2;
#   - ping -6 from the client to the director's own address 2001:2::fe is answered, once
#     per request, by the director's kernel (the dataplane's echo-reply counter stays put);
#   - stop rs1's server -> within fall x interval + 1 s it is down (rvsadm -Ln weight 0,
#     /v1/health down with the reason) and every request goes to rs2;
#   - start it again -> within rise x interval + 1 s it is up and traffic alternates again;
#   - the configured IPv6 route is in the director's kernel, and a reload moves it.
# Environment: RVSD (path of rvsd; default target/release/rvsd), RVS_E2E_WORKERS (1, the
# default, or 2: two workers, so the TAPs have two queue pairs), E2E_VERBOSE.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns.sh
source "$root/scripts/netns.sh"
# shellcheck source=SCRIPTDIR/lib_rvsd.sh
source "$here/lib_rvsd.sh"
# shellcheck source=SCRIPTDIR/lib_health.sh
source "$here/lib_health.sh"

workers=${RVS_E2E_WORKERS:-1}
name=health6_http
[ "$workers" = 1 ] || name="$name ($workers workers)"
prefix="rvsh6-$$"
interval_ms=500
rise=2
fall=2
hc_service="tcp:[$TOPO_VIP6]:80"
hc_vip_url="http://[$TOPO_VIP6]/"

e2e_begin

cat >"$tmp/rvs.yaml" <<YAML
$(rvsd_yaml_ports "$workers" ipv6)
services:
  - proto: tcp
    vip: "$TOPO_VIP6"
    port: 80
    scheduler: rr
    method: masq
    health_check: { type: http, path: /, expect_body: rs, interval: ${interval_ms}ms, timeout: 1s, rise: $rise, fall: $fall }
    real_servers:
      - { address: "$TOPO_RS1_ADDR6", port: 80 }
      - { address: "$TOPO_RS2_ADDR6", port: 80 }
routes:
  - { prefix: "2001:2:0:80::/64", via: "$TOPO_RS1_ADDR6", interface: lan0 }
YAML

topo_up "$prefix"
topo_ipv6_up "$prefix"
client=$(topo_ns "$prefix" c)
lb=$(topo_ns "$prefix" lb)
hc_server_start rs1 80 rs1 "$TOPO_RS1_ADDR6"
hc_server_start rs2 80 rs2 "$TOPO_RS2_ADDR6"
start_rvsd --config "$tmp/rvs.yaml" --stats-file "$tmp/stats.json"
started=$SECONDS
wait_state "$TOPO_RS1_ADDR6" up 20
wait_state "$TOPO_RS2_ADDR6" up 5
echo "both IPv6 real servers up after $((SECONDS - started)) s"

# The kernel interfaces: the director's IPv6 addresses, and nothing self-made.
ip -n "$lb" -6 addr show dev rvs-wan0 | grep -q "inet6 $TOPO_WAN_GW6/64" ||
	fail "rvs-wan0 lacks $TOPO_WAN_GW6/64: $(ip -n "$lb" -6 addr show dev rvs-wan0 2>&1)"
ip -n "$lb" -6 addr show dev rvs-lan0 | grep -q "inet6 $TOPO_LAN_GW6/64" ||
	fail "rvs-lan0 lacks $TOPO_LAN_GW6/64"
if [ -e "/proc/sys/net/ipv6/conf/default/addr_gen_mode" ]; then
	[ -z "$(ip -n "$lb" -6 addr show dev rvs-lan0 scope link)" ] ||
		fail "rvs-lan0 has a link-local address of its own: $(ip -n "$lb" -6 addr show dev rvs-lan0)"
fi
ip -n "$lb" -6 route show 2001:2:0:80::/64 | grep -q "via $TOPO_RS1_ADDR6 dev rvs-lan0" ||
	fail "route 2001:2:0:80::/64 not in the director's kernel: $(ip -n "$lb" -6 route)"
# The checks came from the director's LAN address (python's log: "ADDR - - [...] GET").
for rs in rs1 rs2; do
	grep -q "^$TOPO_LAN_GW6 - - .*\"GET / HTTP" "$tmp/$rs-80/server.log" ||
		fail "$rs saw no check from $TOPO_LAN_GW6: $(tail -n 3 "$tmp/$rs-80/server.log")"
done
echo "checks reached rs1 and rs2 from $TOPO_LAN_GW6 (rvs-lan0's address)"
# The kernel resolved the real servers itself: its solicitations left by the data port,
# and the advertisements came back to it through the TAP.
for rs in rs1 rs2; do
	addr=$([ $rs = rs1 ] && echo "$TOPO_RS1_ADDR6" || echo "$TOPO_RS2_ADDR6")
	mac=$(ip netns exec "$(topo_ns "$prefix" "$rs")" cat /sys/class/net/eth0/address)
	ip -n "$lb" -6 neigh show "$addr" dev rvs-lan0 | grep -q "lladdr $mac" ||
		fail "the director's kernel has no neighbour entry $addr -> $mac: $(ip -n "$lb" -6 neigh show dev rvs-lan0)"
done
echo "the director's kernel resolved rs1 and rs2 by NDP through rvs-lan0"

prev=""
for i in $(seq 1 6); do
	body=$(vip_get)
	case $body in rs1 | rs2) ;; *) fail "curl -6 #$i to the VIP got '$body'" ;; esac
	[ "$body" != "$prev" ] || fail "curl -6 #$i: $body twice in a row (rr must alternate)"
	prev=$body
done
echo "curl -6 to [$TOPO_VIP6] alternates rs1/rs2"

# ping -6 to the director's own address: its kernel answers through rvs-wan0.
stats() { admin_get /v1/stats; }
stats >"$tmp/s0.json" || fail "no /v1/stats"
ip netns exec "$client" ping -6 -c 3 -i 0.2 -w 10 "$TOPO_WAN_GW6" >"$tmp/ping.txt" ||
	fail "ping -6 $TOPO_WAN_GW6 failed: $(cat "$tmp/ping.txt")"
grep -q " 0% packet loss" "$tmp/ping.txt" || fail "ping -6 $TOPO_WAN_GW6 lost packets: $(tail -2 "$tmp/ping.txt")"
! grep -q "duplicates" "$tmp/ping.txt" || fail "ping -6 $TOPO_WAN_GW6 got duplicate answers"
stats >"$tmp/s1.json" || fail "no /v1/stats"
python3 - "$tmp/s0.json" "$tmp/s1.json" <<'PY' || fail "the director's kernel did not answer the ping"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
def port(s, key):
    return [p for p in s["ports"] if p["name"] == "wan0"][0][key]
to_k = port(b, "to_kernel_packets") - port(a, "to_kernel_packets")
from_k = port(b, "from_kernel_packets") - port(a, "from_kernel_packets")
print(f"ping -6: wan0 to kernel +{to_k}, from kernel +{from_k}")
assert to_k >= 3 and from_k >= 3, (to_k, from_k)
assert b["icmp_echo_replies"] == a["icmp_echo_replies"], "the dataplane answered the director's ping"
PY
echo "ping -6 $TOPO_WAN_GW6 answered by the director's kernel: $(grep -o '[0-9]* received' "$tmp/ping.txt")"

down_bound=$((fall * interval_ms + 1000))
up_bound=$((rise * interval_ms + 1000))

# --- rs1 stops ---------------------------------------------------------------------
hc_server_stop rs1 80
t0=$(now_ms)
n=0
while :; do
	t=$(($(now_ms) - t0))
	[ "$t" -lt $((down_bound + 1500)) ] || break
	body=$(vip_get)
	n=$((n + 1))
	if [ "$body" != rs2 ] && [ "$t" -ge "$down_bound" ]; then
		fail "request at +${t} ms got '$body' (after ${down_bound} ms every request must reach rs2)"
	fi
done
[ "$(rs_state "$TOPO_RS1_ADDR6")" = down ] || fail "rs1 never marked down"
marked=$(($(rs_transition_ms "$TOPO_RS1_ADDR6") - t0))
[ "$marked" -le "$down_bound" ] || fail "rs1 marked down after ${marked} ms (bound ${down_bound} ms)"
echo "rs1 stopped: marked down after ${marked} ms (bound ${down_bound} ms); $n requests, all to rs2 after the bound"
rvsadm=$(dirname "$rvsd")/rvsadm
if [ -x "$rvsadm" ]; then
	ip netns exec "$lb" "$rvsadm" -Ln >"$tmp/ln.txt" || fail "rvsadm -Ln failed"
	cat "$tmp/ln.txt"
	grep -Eq -- "-> \[$TOPO_RS1_ADDR6\]:80 +Masq +0 " "$tmp/ln.txt" || fail "rvsadm -Ln does not show rs1 with weight 0"
	grep -Eq -- "-> \[$TOPO_RS2_ADDR6\]:80 +Masq +1 " "$tmp/ln.txt" || fail "rvsadm -Ln does not show rs2 with weight 1"
fi
admin_has "/v1/health/$hc_service" refused || fail "/v1/health does not give the reason: $(admin_get "/v1/health/$hc_service")"

# --- rs1 starts again --------------------------------------------------------------
hc_server_start rs1 80 rs1 "$TOPO_RS1_ADDR6"
t1=$(now_ms)
while :; do
	t=$(($(now_ms) - t1))
	body=$(vip_get)
	case $body in rs1 | rs2) ;; *) fail "request at +${t} ms failed ('$body') while rs2 was up" ;; esac
	[ "$body" = rs1 ] && break
	[ "$t" -lt "$up_bound" ] || fail "no request reached rs1 within ${up_bound} ms of its restart"
done
[ "$(rs_state "$TOPO_RS1_ADDR6")" = up ] || fail "rs1 answers but is not marked up"
echo "rs1 started: marked up after $(($(rs_transition_ms "$TOPO_RS1_ADDR6") - t1)) ms, first request to it after ${t} ms (bound ${up_bound} ms)"
prev=rs1
for i in $(seq 1 6); do
	body=$(vip_get)
	case $body in rs1 | rs2) ;; *) fail "request #$i after recovery failed ('$body')" ;; esac
	[ "$body" != "$prev" ] || fail "request #$i after recovery: $body twice (rr must alternate again)"
	prev=$body
done
echo "traffic alternates rs1/rs2 again"

# A reload that moves the IPv6 route moves it in the kernel too (SIGHUP re-reads the file).
sed -i "s|2001:2:0:80::/64\", via: \"$TOPO_RS1_ADDR6|2001:2:0:81::/64\", via: \"$TOPO_RS2_ADDR6|" "$tmp/rvs.yaml"
grep -q "2001:2:0:81::/64" "$tmp/rvs.yaml" || fail "test bug: the route was not edited"
kill -HUP "$rvsd_pid"
for _ in $(seq 50); do
	ip -n "$lb" -6 route show 2001:2:0:81::/64 | grep -q "via $TOPO_RS2_ADDR6 dev rvs-lan0" && break
	sleep 0.1
done
ip -n "$lb" -6 route show 2001:2:0:81::/64 | grep -q "via $TOPO_RS2_ADDR6 dev rvs-lan0" ||
	fail "route 2001:2:0:81::/64 not in the director's kernel after the reload: $(ip -n "$lb" -6 route)"
[ -z "$(ip -n "$lb" -6 route show 2001:2:0:80::/64)" ] ||
	fail "the removed route 2001:2:0:80::/64 is still in the director's kernel"
echo "reload moved the kernel's IPv6 route to 2001:2:0:81::/64 via $TOPO_RS2_ADDR6"
[ "$(rs_state "$TOPO_RS1_ADDR6")" = up ] || fail "rs1 not up after the reload"
stop_rvsd || fail "rvsd did not stop cleanly on SIGTERM"
python3 - "$tmp/stats.json" <<'PY' || fail "counters do not match"
import json, sys
s = json.load(open(sys.argv[1]))
d = {k: v for k, v in s["drops"].items() if v}
print("to/from kernel:", [(p["name"], p["to_kernel_packets"], p["from_kernel_packets"]) for p in s["ports"]], "drops:", d)
assert s["drops"]["exception_rate_limited"] == 0 and s["drops"]["for_director"] == 0, d
PY
echo "($((SECONDS - started)) s after rvsd start)"
