# shellcheck shell=bash disable=SC2154 # `prefix`, `tmp` come from the sourcing test (`fail` from lib_rvsd.sh)
# Shared by the health-check e2e tests (sourced; run.sh skips lib*.sh): HTTP servers on
# the real servers that a test stops and starts one by one, and timing helpers.

# Milliseconds since the epoch.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

declare -A hc_pids=()

# The service the health helpers below look at (GET /v1/health/{id}) and the URL
# vip_get fetches; a test of another service sets them before using the helpers.
hc_service=${hc_service:-tcp:198.18.0.100:80}
hc_vip_url=${hc_vip_url:-http://$TOPO_VIP/}

# hc_server_start RS PORT BODY [ADDR]: a python HTTP server on RS's address (or ADDR,
# IPv4 or IPv6):PORT answering BODY.
hc_server_start() {
	local rs=$1 port=$2 body=$3 dir addr
	dir=$tmp/$rs-$port
	mkdir -p "$dir"
	printf '%s\n' "$body" >"$dir/index.html"
	addr=${4:-$(_topo_rs_addr "$rs")}
	# Not `python3 -m http.server`: its HTTPServer looks the address up in DNS when it
	# binds, which stalls once the director (rvsd) takes the namespace's DNS packets.
	topo_bg "$prefix" "$rs" "$dir/server.log" "$(_topo_python)" -u -c '
import functools, http.server, socket, socketserver, sys
class Server(socketserver.TCPServer):
    allow_reuse_address = True
    address_family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[3])
Server((sys.argv[1], int(sys.argv[2])), handler).serve_forever()' "$addr" "$port" "$dir"
	hc_pids[$rs:$port]=$TOPO_BG_PID
	wait_listen "$(topo_ns "$prefix" "$rs")" tcp "$port" 10 "$TOPO_BG_PID" ||
		fail "HTTP server on $rs:$port did not start: $(cat "$dir/server.log")"
}

# hc_server_stop RS PORT: stop it (the port then refuses connections).
hc_server_stop() {
	local pid=${hc_pids[$1:$2]:-}
	[ -n "$pid" ] || fail "no server on $1:$2 to stop"
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "hc_pids[$1:$2]"
}

# GET a path of the admin API from the director namespace (no URL globbing: IPv6
# service ids carry brackets).
admin_get() { ip netns exec "$(topo_ns "$prefix" lb)" curl -gsf --max-time 5 "http://127.0.0.1:9180$1"; }

# admin_has PATH PATTERN: whether the admin API's answer at PATH has a line matching the
# basic regex PATTERN. The answer is read whole first: `admin_get | grep -q` fails under
# pipefail when grep stops reading early (curl then exits 23 on the closed pipe), which a
# large answer such as /metrics makes likely.
admin_has() {
	local body
	body=$(admin_get "$1") || return 1
	grep -q -- "$2" <<<"$body"
}

# rs_state RSADDR: up/down/unchecked of that real server of the service $hc_service.
rs_state() {
	admin_get "/v1/health/$hc_service" | python3 -c '
import json, sys
v = json.load(sys.stdin)
print(next(r["state"] for r in v["real_servers"] if r["address"] == sys.argv[1]))' "$1"
}

# rs_transition_ms RSADDR: when that real server last went up or down (ms since the epoch).
rs_transition_ms() {
	admin_get "/v1/health/$hc_service" | python3 -c '
import json, sys
v = json.load(sys.stdin)
h = next(r["health"] for r in v["real_servers"] if r["address"] == sys.argv[1])
print(int(h["last_transition"] * 1000))' "$1"
}

# wait_state RSADDR STATE TIMEOUT_S
wait_state() {
	local deadline=$((SECONDS + $3))
	until [ "$(rs_state "$1" 2>/dev/null)" = "$2" ]; do
		[ "$SECONDS" -lt "$deadline" ] || fail "$1 not $2 within $3 s (health: $(admin_get /v1/health))"
		sleep 0.1
	done
}

# One request to the VIP from the client: prints the body, or "FAIL".
vip_get() { http_get "$(topo_ns "$prefix" c)" "$hc_vip_url" 1 2>/dev/null || echo FAIL; }
