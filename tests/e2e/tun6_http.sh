#!/usr/bin/env bash
# Tunnelling (IPVS -i) for an IPv6 service end to end, with the three encapsulations over
# IPv6: ip6ip6 for VIP 2001:2::100, GUE (UDP port 6080, UDP checksum on) for ::101, GRE
# with checksum for ::102. The real servers answer the client directly through a router.
#   client eth0 (2001:2::1/64)      -- director rvs-wan                (requests)
#   client eth1 (2001:2:0:9::2/64)  -- router -- switch -- rs1/rs2     (replies)
# This kernel has no ip6_tunnel/ip6_gre/fou modules, so each real server runs the
# userspace tunnel endpoint (helpers/tun_decap.py: raw IPv6 sockets for ip6ip6/GRE and a
# UDP socket for GUE -> TUN device), with the VIPs on lo.
# The director's lan port has `mtu: 1400`.
# Checks: per VIP, 10 curls -6 alternate rs1/rs2 (rr); every request went through the
# tunnel type of its VIP (decapsulator counts; the real servers' kernels verified the
# GUE UDP checksums and the decapsulator the GRE ones); a request too big for the
# tunnel gets through by path MTU discovery (rvsd's ICMPv6 Packet Too Big from the VIP,
# reporting 1400 less each tunnel's overhead, which the client caches); the replies
# bypass the director (rvsd's wan port sends only NDP and Packet Too Big, its lan port
# receives only NDP); rvsd stops cleanly.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns.sh
source "$root/scripts/netns.sh"
# shellcheck source=SCRIPTDIR/lib_rvsd.sh
source "$here/lib_rvsd.sh"

name=tun6_http
prefix="rvt6$$"
router="$prefix-r"
vips="2001:2::100 2001:2::101 2001:2::102"
# The lan port's MTU and, per VIP, the path MTU the client must learn from rvsd:
# 1400 less 40 (ip6ip6), 52 (IPv6 + UDP + GUE), 48 (IPv6 + GRE with checksum).
lan_mtu=1400
declare -A want_pmtu=([2001:2::100]=1360 [2001:2::101]=1348 [2001:2::102]=1352)
declare -A decap_pid=()

e2e_cleanup_more() {
	local rs
	if [ "$1" -ne 0 ]; then
		for rs in rs1 rs2; do
			[ -s "$tmp/$rs-decap.log" ] && { echo "--- $rs decapsulator ---"; tail -n 5 "$tmp/$rs-decap.log"; }
		done
	fi
	ip netns del "$router" 2>/dev/null
}

e2e_begin
chmod 755 "$tmp"
[ -c /dev/net/tun ] || fail "no /dev/net/tun (the real servers' tunnel endpoint needs TUN)"

topo_up "$prefix"
topo_ipv6_up "$prefix"
client=$(topo_ns "$prefix" c)
sw=$(topo_ns "$prefix" sw)

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

# Real servers: the VIPs on lo, the router as their default gateway, the tunnel endpoint
# and an HTTP server on [::]:80 naming the server.
for rs in rs1 rs2; do
	ns=$(topo_ns "$prefix" "$rs")
	for vip in $vips; do
		ip -n "$ns" -6 addr add "$vip/128" dev lo
	done
	ip -n "$ns" -6 route replace default via 2001:2:0:1::1
	# The topology keeps IPv6 off on new interfaces: tun0 must take IPv6.
	_topo_sysctl "$ns" net.ipv6.conf.default.disable_ipv6 0
	_topo_sysctl "$ns" net.ipv6.conf.default.router_solicitations 0
	topo_bg "$prefix" "$rs" "$tmp/$rs-decap.log" "$(_topo_python)" -u "$here/helpers/tun_decap.py" \
		--dev tun0 --gue-port 6080
	decap_pid[$rs]=$TOPO_BG_PID
	mkdir -p "$tmp/$rs-www"
	printf '%s\n' "$rs" >"$tmp/$rs-www/index.html"
	topo_bg "$prefix" "$rs" "$tmp/$rs-http6.log" "$(_topo_python)" -m http.server \
		--bind :: --directory "$tmp/$rs-www" 80
done
for rs in rs1 rs2; do
	ns=$(topo_ns "$prefix" "$rs")
	wait_listen "$ns" udp 6080 10 "${decap_pid[$rs]}" ||
		fail "$rs: tunnel endpoint did not start: $(cat "$tmp/$rs-decap.log")"
	wait_listen "$ns" tcp 80 10 ||
		fail "$rs: HTTP server did not start ($(cat "$tmp/$rs-http6.log"))"
done

{
	rvsd_yaml_ports 1 ipv6 | sed "/name: lan0/s/ }\$/, mtu: $lan_mtu }/"
	cat <<EOF
services:
  - proto: tcp
    vip: "2001:2::100"
    port: 80
    scheduler: rr
    method: tunnel
    real_servers:
      - { address: "$TOPO_RS1_ADDR6" }
      - { address: "$TOPO_RS2_ADDR6" }
  - proto: tcp
    vip: "2001:2::101"
    port: 80
    scheduler: rr
    method: tunnel
    tunnel_type: gue
    tunnel_port: 6080
    tunnel_csum: csum
    real_servers:
      - { address: "$TOPO_RS1_ADDR6" }
      - { address: "$TOPO_RS2_ADDR6" }
  - proto: tcp
    vip: "2001:2::102"
    port: 80
    scheduler: rr
    method: tunnel
    tunnel_type: gre
    tunnel_csum: csum
    real_servers:
      - { address: "$TOPO_RS1_ADDR6" }
      - { address: "$TOPO_RS2_ADDR6" }
EOF
} >"$tmp/rvs.yaml"
grep -q "mtu: $lan_mtu" "$tmp/rvs.yaml" || fail "lan mtu not in rvs.yaml"
start_rvsd --config "$tmp/rvs.yaml" --stats-file "$tmp/stats.json"

for vip in $vips; do
	url="http://[$vip]/"
	deadline=$((SECONDS + 20))
	until ip netns exec "$client" curl -6 -sSf --noproxy '*' --connect-timeout 1 -m 1 "$url" >/dev/null 2>&1; do
		kill -0 "$rvsd_pid" 2>/dev/null || fail "rvsd exited before $vip answered"
		[ "$SECONDS" -lt "$deadline" ] || fail "no HTTP answer from $url within 20s"
		sleep 0.2
	done
done

for vip in $vips; do
	prev=""
	for i in $(seq 1 10); do
		body=$(ip netns exec "$client" curl -6 -sSf --noproxy '*' --connect-timeout 3 -m 3 "http://[$vip]/") ||
			fail "$vip: curl -6 #$i failed"
		case $body in rs1 | rs2) ;; *) fail "$vip: curl #$i: unexpected body '$body'" ;; esac
		[ "$body" != "$prev" ] || fail "$vip: curl #$i: $body twice in a row (rr must alternate)"
		prev=$body
	done
	echo "$vip: 10 HTTP requests alternated rs1/rs2 through the tunnel"
done
# Path MTU: a request with a 3000-byte header goes out in 1500-byte segments, too big
# for the 1400-byte lan port once encapsulated; rvsd answers Packet Too Big from the VIP
# and the client resends smaller segments.
pad=$(head -c 3000 /dev/zero | tr '\0' x)
for vip in $vips; do
	body=$(ip netns exec "$client" curl -6 -sSf --noproxy '*' -m 5 -H "X-Pad: $pad" "http://[$vip]/") ||
		fail "$vip: request with a 3000-byte header failed (path MTU discovery through the tunnel)"
	case $body in rs1 | rs2) ;; *) fail "$vip: large request: unexpected body '$body'" ;; esac
	pmtu=$(ip -n "$client" -6 route get "$vip" | grep -o 'mtu [0-9]*' | cut -d' ' -f2 || true)
	[ "$pmtu" = "${want_pmtu[$vip]}" ] ||
		fail "$vip: client's path MTU is '${pmtu:-none}', expected ${want_pmtu[$vip]} (Packet Too Big)"
	echo "$vip: large request answered after path MTU discovery (client caches mtu $pmtu)"
done
replies_via_router=$(ip -n "$router" -s link show e1 | awk '/TX:/ {getline; print $2}')

stop_rvsd || fail "rvsd did not exit 0 on SIGTERM"
for rs in rs1 rs2; do
	kill -TERM "${decap_pid[$rs]}" 2>/dev/null || true
	wait "${decap_pid[$rs]}" 2>/dev/null || true
	echo "$rs: $(tail -n 1 "$tmp/$rs-decap.log")"
done
python3 - "$tmp/stats.json" "$replies_via_router" "$tmp/rs1-decap.log" "$tmp/rs2-decap.log" <<'PY' || fail "tunnel counts or bypass check failed"
import json, sys
s = json.load(open(sys.argv[1]))
wan, lan = s["ports"][0], s["ports"][1]
ptb = s["packet_too_big_sent"]
print(f"director wan: rx {wan['rx_packets']} tx {wan['tx_packets']}; lan: rx {lan['rx_packets']} tx {lan['tx_packets']}; "
      f"encapsulated {s['tunnel_encapsulated']}; packet too big sent {ptb}; router -> client packets: {sys.argv[2]}; connections: {s['conns_created']}")
conns = 3 * 10
assert s["conns_created"] >= conns, s["conns_created"]
# >= 5 client packets per connection (SYN, ACK, request, FIN, ACK), each encapsulated.
assert s["tunnel_encapsulated"] >= 5 * conns, s["tunnel_encapsulated"]
assert ptb >= 3, ptb  # one per VIP at least
assert lan["tx_packets"] >= 5 * conns, lan
# The answers went through the router: the director only sent NDP and the Packet Too
# Big errors on wan and received NDP on lan.
assert wan["tx_packets"] - ptb < 20 and lan["rx_packets"] < 20, (wan, lan)
assert int(sys.argv[2]) >= 3 * conns
# Each real server decapsulated every IPv6 kind, none malformed (GRE checksums checked).
for log in sys.argv[3:]:
    last = [l for l in open(log).read().split("\n") if l.startswith("decap ")][-1]
    counts = {k: int(v) for k, v in (kv.split("=") for kv in last.split()[1:])}
    assert counts["bad"] == 0, counts
    for kind in ("ip6ip6", "gue6", "gre6"):
        assert counts[kind] >= 5 * 5 - 5, (log, counts)
PY
