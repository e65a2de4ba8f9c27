#!/usr/bin/env bash
# Direct routing (IPVS -g) end to end, as in the LVS DR labs: the client reaches the VIP
# through the director, rvsd rewrites only the destination MAC, and the real servers
# (VIP on lo, arp_ignore=1, arp_announce=2) answer the client directly through a router.
#   client eth0 (198.18.0.1) -- director rvs-wan          (requests)
#   client eth1 (198.19.9.2) -- router -- switch -- rs1/rs2 (replies)
# Checks: 20 curls alternate rs1/rs2 (rr); the replies bypass the director (rvsd's wan
# port sends no TCP and its lan port receives none); rvsd stops cleanly.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns.sh
source "$root/scripts/netns.sh"
# shellcheck source=SCRIPTDIR/lib_rvsd.sh
source "$here/lib_rvsd.sh"
# shellcheck source=SCRIPTDIR/lib_router.sh
source "$here/lib_router.sh"

name=dr_http
prefix="rvsd$$"
router="$prefix-r"

# The router namespace is not part of the topology: topo_down does not remove it.
e2e_cleanup_more() { ip netns del "$router" 2>/dev/null; }

e2e_begin

topo_up "$prefix"
client=$(topo_ns "$prefix" c)
sw=$(topo_ns "$prefix" sw)
lb=$(topo_ns "$prefix" lb)

# The router: one leg on the real servers' switch, one to the client's second link.
reply_router_up "$router" "$client" "$sw"

# Real servers as in the tutorials' DR scripts: VIP on lo, no ARP for it, the router as
# their gateway.
for rs in rs1 rs2; do
	ns=$(topo_ns "$prefix" "$rs")
	ip -n "$ns" addr add "$TOPO_VIP/32" dev lo
	for k in all eth0; do
		ip netns exec "$ns" sysctl -qw "net.ipv4.conf.$k.arp_ignore=1" "net.ipv4.conf.$k.arp_announce=2"
	done
	ip -n "$ns" route replace default via 198.19.0.1
done
TOPO_RS_BIND=0.0.0.0 rs_start_http "$prefix"

cat >"$tmp/rvs.yaml" <<EOF
$(rvsd_yaml_ports 1)
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: rr
    method: route
    real_servers:
      - { address: 198.19.0.11 }
      - { address: 198.19.0.12 }
EOF
start_rvsd --config "$tmp/rvs.yaml" --stats-file "$tmp/stats.json"
wait_vip "$client" 20

prev=""
for i in $(seq 1 20); do
	body=$(http_get "$client" "http://$TOPO_VIP/" 3) || fail "curl #$i failed"
	printf '  curl #%-2d %s\n' "$i" "$body"
	case $body in rs1 | rs2) ;; *) fail "curl #$i: unexpected body '$body'" ;; esac
	[ "$body" != "$prev" ] || fail "curl #$i: $body twice in a row (rr must alternate)"
	prev=$body
done
echo "20 HTTP requests alternated rs1/rs2 through DR"
replies_via_router=$(ip -n "$router" -s link show e1 | awk '/TX:/ {getline; print $2}')

stop_rvsd || fail "rvsd did not exit 0 on SIGTERM"
python3 - "$tmp/stats.json" "$replies_via_router" <<'PY' || fail "replies did not bypass the director"
import json, sys
s = json.load(open(sys.argv[1]))
wan, lan = s["ports"][0], s["ports"][1]
print(f"director wan: rx {wan['rx_packets']} tx {wan['tx_packets']}; lan: rx {lan['rx_packets']} tx {lan['tx_packets']}; "
      f"router -> client packets: {sys.argv[2]}; connections: {s['conns_created']}")
# Requests in on wan and out on lan; the answers (>= 5 packets per connection) went
# through the router: the director only sent ARP on wan and received ARP on lan.
assert s["conns_created"] >= 20, s["conns_created"]
assert lan["tx_packets"] >= 5 * 20, lan
assert wan["tx_packets"] < 20 and lan["rx_packets"] < 20, (wan, lan)  # ARP and the odd flooded frame only
assert int(sys.argv[2]) >= 3 * 20
PY
