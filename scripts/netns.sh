# shellcheck shell=bash
# Network-namespace topology for rvs end-to-end tests and the demo (sourceable library).
#
#   PREFIX-c  (client, eth0 198.18.0.1/24, default via 198.18.0.254)
#       |  veth
#   PREFIX-lb (director: rvs-wan, rvs-lan; UP, no IP addresses, no IPv6: rvsd owns them)
#       |  veth
#   PREFIX-sw (bridge br0)
#       |  veth            \  veth
#   PREFIX-rs1 (198.19.0.11/24)  PREFIX-rs2 (198.19.0.12/24), default via 198.19.0.254
#
# NAT (masq) mode: the director is the real servers' gateway, as in the LVS NAT labs.
# Every veth pair is created directly in its two namespaces, so interface names are
# per-namespace and topologies with different prefixes never collide in the root namespace.
#
# Public functions (all take the PREFIX first; PREFIX is [A-Za-z0-9_-], at most 32 chars):
#   topo_up PREFIX                 create the topology (removes a stale one of that prefix first)
#   topo_down PREFIX               remove everything, kill processes in the namespaces (idempotent)
#   topo_ipv6_up PREFIX            opt-in, after topo_up: IPv6 on the client (2001:2::1/64, route
#                                  to 2001:2:0:1::/64 via 2001:2::fe) and the real servers
#                                  (2001:2:0:1::11 and ::12/64, default via 2001:2:0:1::fe); the
#                                  director's kernel keeps IPv6 off (rvsd owns those addresses)
#   topo_ns PREFIX ROLE            print a namespace name (ROLE: c lb sw rs1 rs2)
#   topo_bg PREFIX ROLE LOG CMD... start CMD in a namespace in the background, track its PID,
#                                  set TOPO_BG_PID to it
#   rs_start_http PREFIX           HTTP server on port 80 of each real server answering "rs1"/"rs2"
#   rs_start_udp_echo PREFIX       UDP server on port 5353 of each real server answering "<rs> <data>"
#                                  (log: $(topo_state_dir PREFIX)/rsN-udp.log, "<peer>:<port> <data>")
#   http_get NETNS URL [MAX_S]     print the body of one HTTP GET made from NETNS
#   wait_http NETNS URL TIMEOUT_S  wait until a GET of URL from NETNS succeeds (prints the body)
#   udp_query NETNS HOST PORT DATA [TIMEOUT_S]  send DATA from NETNS, print the first answer
#   wait_udp NETNS HOST PORT TIMEOUT_S          wait until HOST:PORT answers a UDP query
#   wait_listen NETNS PROTO PORT TIMEOUT_S [PID]  wait until a tcp/udp socket (of PID) listens on PORT
#
# Environment: RVS_NETNS_STATE (state directory root, default /tmp/rvs-netns),
# RVS_HTTP_SERVER (nginx | python; default nginx when installed), PYTHON (python3 binary).

# Client, director and real-server addressing of the topology (fixed: tests and
# examples/demo.yaml use these values).
# (Plain assignments, not readonly: sourcing the library twice must work.)
TOPO_CLIENT_ADDR=198.18.0.1
TOPO_WAN_GW=198.18.0.254
TOPO_LAN_GW=198.19.0.254
TOPO_RS1_ADDR=198.19.0.11
TOPO_RS2_ADDR=198.19.0.12
# shellcheck disable=SC2034 # used by the scripts that source this library
TOPO_VIP=198.18.0.100
TOPO_ROLES="c lb sw rs1 rs2"
# IPv6 addressing, used only after topo_ipv6_up.
TOPO_CLIENT_ADDR6=2001:2::1
TOPO_WAN_GW6=2001:2::fe
TOPO_LAN_GW6=2001:2:0:1::fe
TOPO_RS1_ADDR6=2001:2:0:1::11
TOPO_RS2_ADDR6=2001:2:0:1::12
# shellcheck disable=SC2034 # used by the scripts that source this library
TOPO_VIP6=2001:2::100

_topo_log() { printf 'netns: %s\n' "$*" >&2; }

# Print the python3 interpreter to use: the system one, not a per-user shim
# (pyenv shims are slow to start and may point elsewhere inside a namespace).
_topo_python() {
	if [ -n "${PYTHON:-}" ]; then
		printf '%s\n' "$PYTHON"
	elif [ -x /usr/bin/python3 ]; then
		printf '%s\n' /usr/bin/python3
	else
		command -v python3
	fi
}

_topo_check_prefix() {
	if ! [[ "${1:-}" =~ ^[A-Za-z0-9_-]{1,32}$ ]]; then
		_topo_log "bad prefix '${1:-}': expected 1-32 characters of [A-Za-z0-9_-]"
		return 1
	fi
}

topo_ns() { printf '%s-%s\n' "$1" "$2"; }

topo_state_dir() { printf '%s/%s\n' "${RVS_NETNS_STATE:-/tmp/rvs-netns}" "$1"; }

# Write VALUE to a sysctl path (dots as separators) inside namespace NS.
# (Functions here return 1 on the first failed step explicitly: `set -e` does not apply
# inside a function called as `topo_up P || ...`.)
_topo_sysctl() {
	local ns=$1 key=$2 value=$3
	ip netns exec "$ns" sh -c "echo $value > /proc/sys/${key//.//}"
}

# Turn off TX checksum offload (else TCP/UDP checksums stay partial and packets read
# through AF_PACKET/AF_XDP carry wrong ones; it also drops SG/TSO/GSO) and, best effort,
# GRO (so a reader on the director's ports never sees coalesced frames above the MTU).
_topo_offload_off() {
	local ns=$1 dev=$2
	ip netns exec "$ns" ethtool -K "$dev" tx off >/dev/null || return 1
	ip netns exec "$ns" ethtool -K "$dev" gro off >/dev/null 2>&1 || true
}

# Create a veth pair DEV_A (in NS_A) <-> DEV_B (in NS_B), both UP, offloads off.
_topo_veth() {
	local ns_a=$1 dev_a=$2 ns_b=$3 dev_b=$4
	ip -n "$ns_a" link add "$dev_a" type veth peer name "$dev_b" netns "$ns_b" || return 1
	_topo_offload_off "$ns_a" "$dev_a" || return 1
	_topo_offload_off "$ns_b" "$dev_b" || return 1
	ip -n "$ns_a" link set "$dev_a" up || return 1
	ip -n "$ns_b" link set "$dev_b" up || return 1
}

topo_up() {
	_topo_check_prefix "${1:-}" || return 1
	local p=$1 role ns state
	topo_down "$p"
	state=$(topo_state_dir "$p")
	mkdir -p "$state" || return 1
	chmod 755 "$state" || return 1
	: >"$state/pids" || return 1
	for role in $TOPO_ROLES; do
		ns=$(topo_ns "$p" "$role")
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up || return 1
		# Keep IPv6 quiet everywhere (no router solicitations, MLD or DAD noise on
		# the wires rvsd reads); links created later inherit "default".
		_topo_sysctl "$ns" net.ipv6.conf.all.disable_ipv6 1 || return 1
		_topo_sysctl "$ns" net.ipv6.conf.default.disable_ipv6 1 || return 1
	done
	local c lb sw rs1 rs2
	c=$(topo_ns "$p" c)
	lb=$(topo_ns "$p" lb)
	sw=$(topo_ns "$p" sw)
	rs1=$(topo_ns "$p" rs1)
	rs2=$(topo_ns "$p" rs2)

	# Director: its kernel must stay silent on rvs-wan/rvs-lan (no addresses, no IPv6,
	# no forwarding) so that rvsd alone answers ARP and moves packets.
	_topo_sysctl "$lb" net.ipv4.ip_forward 0 || return 1
	_topo_veth "$lb" rvs-wan "$c" eth0 || return 1
	ip -n "$sw" link add br0 type bridge stp_state 0 forward_delay 0 || return 1
	ip -n "$sw" link set br0 up || return 1
	_topo_veth "$lb" rvs-lan "$sw" lb || return 1
	_topo_veth "$sw" rs1 "$rs1" eth0 || return 1
	_topo_veth "$sw" rs2 "$rs2" eth0 || return 1
	local dev
	for dev in lb rs1 rs2; do
		ip -n "$sw" link set "$dev" master br0 || return 1
	done
	for dev in rvs-wan rvs-lan; do
		_topo_sysctl "$lb" "net.ipv6.conf.$dev.disable_ipv6" 1 || return 1
	done

	ip -n "$c" addr add "$TOPO_CLIENT_ADDR/24" dev eth0 || return 1
	ip -n "$c" route add default via "$TOPO_WAN_GW" || return 1
	ip -n "$rs1" addr add "$TOPO_RS1_ADDR/24" dev eth0 || return 1
	ip -n "$rs1" route add default via "$TOPO_LAN_GW" || return 1
	ip -n "$rs2" addr add "$TOPO_RS2_ADDR/24" dev eth0 || return 1
	ip -n "$rs2" route add default via "$TOPO_LAN_GW" || return 1
	_topo_log "topology $p up (namespaces: $(for r in $TOPO_ROLES; do printf '%s ' "$p-$r"; done))"
}

# Opt-in IPv6 on the client and real servers of topology PREFIX (see the header).
# Addresses skip duplicate address detection (nodad) so they work at once; the bridge
# stops MLD snooping so solicited-node multicast reaches every real server whatever
# reports it saw; router solicitations are off to keep the wires quiet.
topo_ipv6_up() {
	_topo_check_prefix "${1:-}" || return 1
	local p=$1 role ns addr gw
	ip -n "$(topo_ns "$p" sw)" link set br0 type bridge mcast_snooping 0 || return 1
	for role in c rs1 rs2; do
		ns=$(topo_ns "$p" "$role")
		_topo_sysctl "$ns" net.ipv6.conf.eth0.router_solicitations 0 || return 1
		_topo_sysctl "$ns" net.ipv6.conf.eth0.disable_ipv6 0 || return 1
		_topo_sysctl "$ns" net.ipv6.conf.lo.disable_ipv6 0 || return 1
		case $role in
		c) addr=$TOPO_CLIENT_ADDR6 gw=$TOPO_WAN_GW6 ;;
		rs1) addr=$TOPO_RS1_ADDR6 gw=$TOPO_LAN_GW6 ;;
		rs2) addr=$TOPO_RS2_ADDR6 gw=$TOPO_LAN_GW6 ;;
		esac
		ip -n "$ns" -6 addr add "$addr/64" dev eth0 nodad || return 1
		if [ "$role" = c ]; then
			ip -n "$ns" -6 route add 2001:2:0:1::/64 via "$gw" || return 1
		else
			ip -n "$ns" -6 route add default via "$gw" || return 1
		fi
	done
	_topo_log "topology $p: IPv6 up"
}

# Kill every process whose network namespace is NS (SIGTERM, then SIGKILL after 3 s).
_topo_kill_ns_pids() {
	local ns=$1 pids i
	pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
	[ -n "${pids// /}" ] || return 0
	# shellcheck disable=SC2086 # word splitting of the PID list is intended
	kill -TERM $pids 2>/dev/null || true
	for i in $(seq 1 30); do
		pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
		[ -n "${pids// /}" ] || return 0
		sleep 0.1
	done
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null || true
	for i in $(seq 1 20); do
		pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
		[ -n "${pids// /}" ] || return 0
		sleep 0.1
	done
	_topo_log "processes left in $ns after SIGKILL: $pids (iteration $i)"
}

topo_down() {
	_topo_check_prefix "${1:-}" || return 1
	local p=$1 role ns
	# Kill by namespace membership (`ip netns pids`), not from the recorded PID list:
	# a recorded PID may have been reused by an unrelated process since. A process
	# started with topo_bg lives in its namespace, so this covers all of them.
	for role in $TOPO_ROLES; do
		ns=$(topo_ns "$p" "$role")
		if [ -e "/run/netns/$ns" ]; then
			_topo_kill_ns_pids "$ns"
			ip netns del "$ns" 2>/dev/null || true
		fi
	done
	rm -rf -- "$(topo_state_dir "$p")"
	return 0
}

topo_bg() {
	local p=$1 role=$2 log=$3
	shift 3
	local ns state
	ns=$(topo_ns "$p" "$role")
	state=$(topo_state_dir "$p")
	# `ip netns exec` execs CMD, so $! is CMD's own PID. Detach stdin so a backgrounded
	# server never competes for a terminal.
	ip netns exec "$ns" "$@" </dev/null >"$log" 2>&1 &
	TOPO_BG_PID=$!
	printf '%s\n' "$TOPO_BG_PID" >>"$state/pids"
}

# Wait until a PROTO (tcp|udp) socket listens on PORT inside NETNS; with PID, until
# that process owns it (so a server that failed to start is not mistaken for another).
wait_listen() {
	local ns=$1 proto=$2 port=$3 timeout=$4 pid=${5:-} flag deadline out
	case $proto in
	tcp) flag=-t ;;
	udp) flag=-u ;;
	*)
		_topo_log "wait_listen: unknown protocol $proto"
		return 1
		;;
	esac
	deadline=$((SECONDS + timeout))
	while [ "$SECONDS" -le "$deadline" ]; do
		out=$(ip netns exec "$ns" ss -Hlnp "$flag" "sport = :$port" 2>/dev/null || true)
		if [ -n "$out" ] && { [ -z "$pid" ] || [[ "$out" == *"pid=$pid,"* ]]; }; then
			return 0
		fi
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			_topo_log "process $pid exited before listening on $proto port $port in $ns"
			return 1
		fi
		sleep 0.1
	done
	_topo_log "nothing${pid:+ of process $pid} listens on $proto port $port in $ns after ${timeout}s"
	return 1
}

_topo_rs_addr() {
	case $1 in
	rs1) printf '%s\n' "$TOPO_RS1_ADDR" ;;
	rs2) printf '%s\n' "$TOPO_RS2_ADDR" ;;
	esac
}

# nginx for one real server: foreground, everything (pid, logs, temp files) in DIR.
_topo_nginx_conf() {
	local dir=$1 addr=$2
	cat <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    default_type text/plain;
    keepalive_requests 100000;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen $addr:80 reuseport;
        root $dir/www;
        index index.html;
    }
}
EOF
}

rs_start_http() {
	local p=$1 rs kind dir addr
	kind=${RVS_HTTP_SERVER:-}
	if [ -z "$kind" ]; then
		if command -v nginx >/dev/null 2>&1; then kind=nginx; else kind=python; fi
	fi
	local -A rs_pids=()
	for rs in rs1 rs2; do
		# TOPO_RS_BIND=0.0.0.0 makes the servers answer on every local address (DR: the
		# VIP sits on the real server's loopback).
		addr=${TOPO_RS_BIND:-$(_topo_rs_addr "$rs")}
		dir=$(topo_state_dir "$p")/$rs-http
		mkdir -p "$dir/www" "$dir/tmp"
		chmod 755 "$dir" "$dir/www"
		printf '%s\n' "$rs" >"$dir/www/index.html"
		chmod 644 "$dir/www/index.html"
		case $kind in
		nginx)
			_topo_nginx_conf "$dir" "$addr" >"$dir/nginx.conf"
			topo_bg "$p" "$rs" "$dir/server.log" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
			;;
		python)
			topo_bg "$p" "$rs" "$dir/server.log" "$(_topo_python)" -m http.server \
				--bind "$addr" --directory "$dir/www" 80
			;;
		*)
			_topo_log "RVS_HTTP_SERVER=$kind: expected nginx or python"
			return 1
			;;
		esac
		rs_pids[$rs]=$TOPO_BG_PID
	done
	for rs in rs1 rs2; do
		if ! wait_listen "$(topo_ns "$p" "$rs")" tcp 80 10 "${rs_pids[$rs]}"; then
			cat "$(topo_state_dir "$p")/$rs-http/server.log" >&2 || true
			return 1
		fi
	done
}

rs_start_udp_echo() {
	local p=$1 rs state script
	state=$(topo_state_dir "$p")
	script=$state/udp_echo.py
	cat >"$script" <<'EOF'
# UDP echo for an rvs test real server: answers "<name> <data>" to the sender and logs
# "<peer address>:<peer port> <data>" (tests check which client address arrived).
import socket
import sys

name, addr, port = sys.argv[1].encode(), sys.argv[2], int(sys.argv[3])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((addr, port))
while True:
    data, peer = sock.recvfrom(65535)
    print("%s:%d %r" % (peer[0], peer[1], data), flush=True)
    sock.sendto(name + b" " + data, peer)
EOF
	local -A rs_pids=()
	for rs in rs1 rs2; do
		topo_bg "$p" "$rs" "$state/$rs-udp.log" "$(_topo_python)" -u "$script" "$rs" \
			"$(_topo_rs_addr "$rs")" 5353
		rs_pids[$rs]=$TOPO_BG_PID
	done
	for rs in rs1 rs2; do
		if ! wait_listen "$(topo_ns "$p" "$rs")" udp 5353 10 "${rs_pids[$rs]}"; then
			cat "$state/$rs-udp.log" >&2 || true
			return 1
		fi
	done
}

http_get() {
	local ns=$1 url=$2 max=${3:-3}
	ip netns exec "$ns" curl -sSf --noproxy '*' --connect-timeout "$max" -m "$max" "$url"
}

wait_http() {
	local ns=$1 url=$2 timeout=$3 deadline
	deadline=$((SECONDS + timeout))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if http_get "$ns" "$url" 2 2>/dev/null; then
			return 0
		fi
		sleep 0.2
	done
	_topo_log "no HTTP answer from $url in $ns after ${timeout}s"
	return 1
}

# One UDP query from one socket (so retransmissions belong to the same flow):
# resend every 0.5 s until an answer arrives or TIMEOUT_S passes. The socket is
# connected, so only an answer whose source is exactly HOST:PORT counts (a reply
# that leaves the director without its source rewritten back to the VIP is ignored).
udp_query() {
	local ns=$1 host=$2 port=$3 data=$4 timeout=${5:-3}
	ip netns exec "$ns" "$(_topo_python)" - "$host" "$port" "$data" "$timeout" <<'EOF'
import socket
import sys
import time

host, port, data, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(), float(sys.argv[4])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.connect((host, port))
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    try:
        sock.send(data)
    except ConnectionRefusedError:
        pass
    sock.settimeout(max(0.01, min(0.5, deadline - time.monotonic())))
    try:
        answer = sock.recv(65535)
    except socket.timeout:
        continue
    except ConnectionRefusedError:  # ICMP port unreachable: nothing listens (yet)
        time.sleep(0.2)
        continue
    print(answer.decode(errors="replace"))
    sys.exit(0)
sys.exit(1)
EOF
}

wait_udp() {
	local ns=$1 host=$2 port=$3 timeout=$4 deadline
	deadline=$((SECONDS + timeout))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if udp_query "$ns" "$host" "$port" probe 1 >/dev/null; then
			return 0
		fi
		sleep 0.2
	done
	_topo_log "no UDP answer from $host:$port in $ns after ${timeout}s"
	return 1
}
