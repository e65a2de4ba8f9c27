#!/usr/bin/env bash
# Direct routing (IPVS -g) over IPv6 end to end: the client reaches the VIP
# [2001:2::100]:80 through the director, rvsd rewrites only the destination MAC (after
# resolving the real servers by NDP), and the real servers (VIP on lo: Linux answers
# neighbour solicitations only for the receiving interface's addresses, so no
# arp_ignore counterpart is needed) answer the client directly through a router.
#   client eth0 (2001:2::1/64)      -- director rvs-wan                (requests)
#   client eth1 (2001:2:0:9::2/64)  -- router -- switch -- rs1/rs2     (replies)
# Checks: 20 curls -6 alternate rs1/rs2 (rr); the replies bypass the director (rvsd's wan
# port sends only NDP and its lan port receives only NDP); rvsd stops cleanly.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns.sh
source "$root/scripts/netns.sh"
# shellcheck source=SCRIPTDIR/lib_rvsd.sh
source "$here/lib_rvsd.sh"

name=dr6_http
prefix="rvs6d$$"
router="$prefix-r"

# The router namespace is not part of the topology: topo_down does not remove it.
e2e_cleanup_more() { ip netns del "$router" 2>/dev/null; }
vip_url="http://[$TOPO_VIP6]/"

e2e_begin

topo_up "$prefix"
topo_ipv6_up "$prefix"
client=$(topo_ns "$prefix" c)
sw=$(topo_ns "$prefix" sw)
state=$(topo_state_dir "$prefix")

# The router: one leg on the real servers' switch, one to the client's second link.
ip netns add "$router"
ip -n "$router" link set lo up
_topo_veth "$router" e0 "$sw" r
ip -n "$sw" link set r master br0
_topo_veth "$router" e1 "$client" eth1
for dev in e0 e1; do
	_topo_sysctl "$router" "net.ipv6.conf.$dev.router_solicitations" 0
done
_topo_sysctl "$router" net.ipv6.conf.all.forwarding 1
ip -n "$router" -6 addr add 2001:2:0:1::1/64 dev e0 nodad
ip -n "$router" -6 addr add 2001:2:0:9::1/64 dev e1 nodad
ip -n "$router" -6 route add "$TOPO_CLIENT_ADDR6/128" via 2001:2:0:9::2
_topo_sysctl "$client" net.ipv6.conf.eth1.router_solicitations 0
_topo_sysctl "$client" net.ipv6.conf.eth1.disable_ipv6 0
ip -n "$client" -6 addr add 2001:2:0:9::2/64 dev eth1 nodad

# Real servers: the VIP on lo, the router as their default gateway, an HTTP server on
# the VIP naming the server.
declare -A rs_pid=()
for rs in rs1 rs2; do
	ns=$(topo_ns "$prefix" "$rs")
	ip -n "$ns" -6 addr add "$TOPO_VIP6/128" dev lo
	ip -n "$ns" -6 route replace default via 2001:2:0:1::1
	mkdir -p "$state/$rs-www"
	printf '%s\n' "$rs" >"$state/$rs-www/index.html"
	topo_bg "$prefix" "$rs" "$state/$rs-http6.log" "$(_topo_python)" -m http.server \
		--bind "$TOPO_VIP6" --directory "$state/$rs-www" 80
	rs_pid[$rs]=$TOPO_BG_PID
done
for rs in rs1 rs2; do
	wait_listen "$(topo_ns "$prefix" "$rs")" tcp 80 10 "${rs_pid[$rs]}" ||
		fail "$rs: HTTP server did not start ($(cat "$state/$rs-http6.log"))"
done

cat >"$tmp/rvs.yaml" <<EOF
$(rvsd_yaml_ports 1 ipv6)
services:
  - proto: tcp
    vip: "$TOPO_VIP6"
    port: 80
    scheduler: rr
    method: route
    real_servers:
      - { address: "$TOPO_RS1_ADDR6" }
      - { address: "$TOPO_RS2_ADDR6" }
EOF
start_rvsd --config "$tmp/rvs.yaml" --stats-file "$tmp/stats.json"

deadline=$((SECONDS + 20))
until ip netns exec "$client" curl -6 -sSf --noproxy '*' --connect-timeout 1 -m 1 "$vip_url" >/dev/null 2>&1; do
	kill -0 "$rvsd_pid" 2>/dev/null || fail "rvsd exited before the VIP answered"
	[ "$SECONDS" -lt "$deadline" ] || fail "no HTTP answer from $vip_url within 20s"
	sleep 0.2
done

prev=""
for i in $(seq 1 20); do
	body=$(ip netns exec "$client" curl -6 -sSf --noproxy '*' --connect-timeout 3 -m 3 "$vip_url") ||
		fail "curl -6 #$i failed"
	printf '  curl -6 #%-2d %s\n' "$i" "$body"
	case $body in rs1 | rs2) ;; *) fail "curl #$i: unexpected body '$body'" ;; esac
	[ "$body" != "$prev" ] || fail "curl #$i: $body twice in a row (rr must alternate)"
	prev=$body
done
echo "20 HTTP requests over IPv6 alternated rs1/rs2 through DR"
replies_via_router=$(ip -n "$router" -s link show e1 | awk '/TX:/ {getline; print $2}')

stop_rvsd || fail "rvsd did not exit 0 on SIGTERM"
python3 - "$tmp/stats.json" "$replies_via_router" <<'PY' || fail "replies did not bypass the director"
import json, sys
s = json.load(open(sys.argv[1]))
wan, lan = s["ports"][0], s["ports"][1]
print(f"director wan: rx {wan['rx_packets']} tx {wan['tx_packets']}; lan: rx {lan['rx_packets']} tx {lan['tx_packets']}; "
      f"router -> client packets: {sys.argv[2]}; connections: {s['conns_created']}")
# Requests in on wan and out on lan; the answers (>= 5 packets per connection) went
# through the router: the director only sent NDP on wan and received NDP on lan.
assert s["conns_created"] >= 20, s["conns_created"]
assert lan["tx_packets"] >= 5 * 20, lan
assert wan["tx_packets"] < 20 and lan["rx_packets"] < 20, (wan, lan)
assert int(sys.argv[2]) >= 3 * 20
PY
