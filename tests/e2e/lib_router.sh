# shellcheck shell=bash
# Shared by the IPv4 DR and TUN e2e tests (sourced after scripts/netns.sh; run.sh skips
# lib*.sh): the router that carries the real servers' replies around the director.

# reply_router_up ROUTER CLIENT_NS SW_NS: a new namespace ROUTER with one leg
# (198.19.0.1, e0) on the real servers' switch SW_NS and one (198.19.9.1, e1) to the
# client's second link eth1 (198.19.9.2), forwarding between them. Replies from the
# VIPs then arrive on the client's eth1 while its route to the VIPs is eth0, so the
# client's reverse-path filter is turned off. The test removes ROUTER itself
# (topo_down does not know it).
reply_router_up() {
	local router=$1 client=$2 sw=$3 k
	ip netns add "$router"
	ip -n "$router" link set lo up
	ip netns exec "$router" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	_topo_veth "$router" e0 "$sw" r
	ip -n "$sw" link set r master br0
	_topo_veth "$router" e1 "$client" eth1
	ip -n "$router" addr add 198.19.0.1/24 dev e0
	ip -n "$router" addr add 198.19.9.1/24 dev e1
	ip -n "$router" route add 198.18.0.1/32 via 198.19.9.2
	ip netns exec "$router" sysctl -qw net.ipv4.ip_forward=1
	ip -n "$client" addr add 198.19.9.2/24 dev eth1
	for k in all default eth0 eth1; do
		ip netns exec "$client" sysctl -qw "net.ipv4.conf.$k.rp_filter=0"
	done
}
