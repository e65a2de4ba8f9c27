#!/usr/bin/env bash
# Tunnelling (IPVS -i) end to end, as in the LVS TUN labs, with all three encapsulations:
# rvsd encapsulates the client's packets to the real servers (IPIP for VIP .100, GUE to
# UDP port 6080 for .101, GRE for .102) and the real servers answer the client directly
# through a router.
#   client eth0 (198.18.0.1) -- director rvs-wan          (requests)
#   client eth1 (198.19.9.2) -- router -- switch -- rs1/rs2 (replies)
# This kernel has no ipip/gre/fou modules, so each real server runs a userspace tunnel
# endpoint (helpers/tun_decap.py: raw IPIP/GRE sockets and a UDP socket for GUE -> TUN
# device); the VIPs sit on lo (arp_ignore=1, arp_announce=2) as in the DR recipe.
# Checks: per VIP, 20 curls alternate rs1/rs2 (rr); every request went through the
# tunnel type of its VIP (decapsulator counts); a request too big for the tunnel gets
# through by path MTU discovery (rvsd's ICMP fragmentation needed); the replies bypass
# the director (rvsd's wan port sends no TCP and its lan port receives none); rvsd stops
# cleanly.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns.sh
source "$root/scripts/netns.sh"
# shellcheck source=SCRIPTDIR/lib_rvsd.sh
source "$here/lib_rvsd.sh"
# shellcheck source=SCRIPTDIR/lib_router.sh
source "$here/lib_router.sh"

name=tun_http
prefix="rvtun$$"
router="$prefix-r"
vips="198.18.0.100 198.18.0.101 198.18.0.102"
declare -A decap_pid=()

# On failure, also the decapsulators' last lines; the router namespace is not part of
# the topology: topo_down does not remove it.
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
client=$(topo_ns "$prefix" c)
sw=$(topo_ns "$prefix" sw)

# The router: one leg on the real servers' switch, one to the client's second link.
reply_router_up "$router" "$client" "$sw"

# Real servers: the VIPs on lo without ARP for them, the router as their gateway, and
# the tunnel endpoint. Decapsulated packets (client -> VIP) come in on tun0 while the
# route back to the client is eth0: no reverse-path filter, as on a tunl0 real server.
for rs in rs1 rs2; do
	ns=$(topo_ns "$prefix" "$rs")
	for vip in $vips; do
		ip -n "$ns" addr add "$vip/32" dev lo
	done
	for k in all eth0; do
		ip netns exec "$ns" sysctl -qw "net.ipv4.conf.$k.arp_ignore=1" "net.ipv4.conf.$k.arp_announce=2"
	done
	for k in all default eth0; do
		ip netns exec "$ns" sysctl -qw "net.ipv4.conf.$k.rp_filter=0"
	done
	ip -n "$ns" route replace default via 198.19.0.1
	topo_bg "$prefix" "$rs" "$tmp/$rs-decap.log" "$(_topo_python)" -u "$here/helpers/tun_decap.py" \
		--dev tun0 --gue-port 6080
	decap_pid[$rs]=$TOPO_BG_PID
done
for rs in rs1 rs2; do
	wait_listen "$(topo_ns "$prefix" "$rs")" udp 6080 10 "${decap_pid[$rs]}" ||
		fail "$rs: tunnel endpoint did not start: $(cat "$tmp/$rs-decap.log")"
done
TOPO_RS_BIND=0.0.0.0 rs_start_http "$prefix"

cat >"$tmp/rvs.yaml" <<EOF
$(rvsd_yaml_ports 1)
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: rr
    method: tunnel
    real_servers:
      - { address: 198.19.0.11 }
      - { address: 198.19.0.12 }
  - proto: tcp
    vip: 198.18.0.101
    port: 80
    scheduler: rr
    method: tunnel
    tunnel_type: gue
    tunnel_port: 6080
    real_servers:
      - { address: 198.19.0.11 }
      - { address: 198.19.0.12 }
  - proto: tcp
    vip: 198.18.0.102
    port: 80
    scheduler: rr
    method: tunnel
    tunnel_type: gre
    real_servers:
      - { address: 198.19.0.11 }
      - { address: 198.19.0.12 }
EOF
start_rvsd --config "$tmp/rvs.yaml" --stats-file "$tmp/stats.json"
wait_vip "$client" 20
for vip in $vips; do
	wait_http "$client" "http://$vip/" 10 >/dev/null || fail "no HTTP answer from $vip"
done

for vip in $vips; do
	prev=""
	for i in $(seq 1 20); do
		body=$(http_get "$client" "http://$vip/" 3) || fail "$vip: curl #$i failed"
		case $body in rs1 | rs2) ;; *) fail "$vip: curl #$i: unexpected body '$body'" ;; esac
		[ "$body" != "$prev" ] || fail "$vip: curl #$i: $body twice in a row (rr must alternate)"
		prev=$body
	done
	echo "$vip: 20 HTTP requests alternated rs1/rs2 through the tunnel"
done
# Path MTU: a request with a 3000-byte header goes out in full-size (1500-byte, DF)
# segments, too big once encapsulated; rvsd answers "fragmentation needed" from the VIP
# with 1500 less the tunnel overhead, the client's kernel lowers its path MTU to the VIP
# and resends smaller segments, and the real server gets the whole request.
pad=$(head -c 3000 /dev/zero | tr '\0' x)
for vip in $vips; do
	body=$(ip netns exec "$client" curl -sSf --noproxy '*' -m 5 -H "X-Pad: $pad" "http://$vip/") ||
		fail "$vip: request with a 3000-byte header failed (path MTU discovery through the tunnel)"
	case $body in rs1 | rs2) ;; *) fail "$vip: large request: unexpected body '$body'" ;; esac
	echo "$vip: large request answered after path MTU discovery: $(ip -n "$client" route get "$vip" | grep -o 'mtu [0-9]*' || echo 'no mtu cached')"
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
print(f"director wan: rx {wan['rx_packets']} tx {wan['tx_packets']}; lan: rx {lan['rx_packets']} tx {lan['tx_packets']}; "
      f"encapsulated {s['tunnel_encapsulated']}; frag needed sent {s['frag_needed_sent']}; router -> client packets: {sys.argv[2]}; connections: {s['conns_created']}")
conns = 3 * 20
assert s["conns_created"] >= conns, s["conns_created"]
# >= 5 client packets per connection (SYN, ACK, request, FIN, ACK), each encapsulated.
assert s["tunnel_encapsulated"] >= 5 * conns, s["tunnel_encapsulated"]
assert s["frag_needed_sent"] >= 3, s["frag_needed_sent"]  # one per VIP at least
assert lan["tx_packets"] >= 5 * conns, lan
# The answers went through the router: the director only sent ARP on wan and received
# ARP on lan (and sent the ICMP errors on wan).
assert wan["tx_packets"] - s["frag_needed_sent"] < 20 and lan["rx_packets"] < 20, (wan, lan)
assert int(sys.argv[2]) >= 3 * conns
# Each real server decapsulated every kind, none malformed.
for log in sys.argv[3:]:
    last = open(log).read().split("\n")
    counts = dict(kv.split("=") for kv in [l for l in last if l.startswith("decap ipip=")][-1].split()[1:])
    counts = {k: int(v) for k, v in counts.items()}
    assert counts["bad"] == 0, counts
    for kind in ("ipip", "gue", "gre"):
        assert counts[kind] >= 5 * 10 - 5, (log, counts)
PY
