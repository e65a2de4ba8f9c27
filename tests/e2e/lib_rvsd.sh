# shellcheck shell=bash disable=SC2154 # `name`, `prefix`, `root` come from the sourcing test
# Shared by the e2e tests that run rvsd (sourced; run.sh skips lib*.sh). Keeps rvsd's
# PID in `rvsd_pid`.
#
# A test sources scripts/netns.sh and this file, sets `root`, `name` and `prefix`, then
# calls e2e_begin, which sets `rvsd` and `tmp`, installs the traps whose cleanup() stops
# rvsd, prints its log on failure, runs topo_down and prints PASS/FAIL, and checks root
# and the rvsd binary. Extra clean-up steps go in optional functions the test defines:
#   e2e_cleanup_first RC  before rvsd is stopped (e.g. kill a load generator);
#   e2e_cleanup_more RC   after rvsd's log is shown, before topo_down (e.g. remove an
#                         extra namespace, show other logs when RC is non-zero).

rvsd_pid=""
stop_timeout=${stop_timeout:-10}

# Stop rvsd with SIGTERM; prints its exit status, returns non-zero unless it exited 0
# within $stop_timeout seconds (then it is killed).
stop_rvsd() {
	local pid=$rvsd_pid status=0 deadline when="after SIGTERM"
	rvsd_pid=""
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || when="before SIGTERM (on its own)"
	deadline=$((SECONDS + stop_timeout))
	while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "$name: rvsd still running ${stop_timeout}s after SIGTERM; killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		return 1
	fi
	wait "$pid" || status=$?
	echo "rvsd exited with status $status $when"
	[ "$status" -eq 0 ]
}

exec 7>&1 8>&2 # the script's own stdout/stderr, for cleanup()

# Print the message prefixed with the test's name to stderr and fail the test.
fail() {
	echo "$name: $*" >&2
	exit 1
}

# EXIT trap: tear everything down whatever happened, print PASS/FAIL, exit with the
# test's status (made non-zero if rvsd does not stop cleanly).
cleanup() {
	local rc=$?
	set +e
	# A second signal (e.g. a timeout's) must not cut the clean-up short.
	trap '' INT TERM
	# A signal can arrive while a command runs with its output redirected (e.g.
	# `cmd >/dev/null`); the traps then inherit that redirection: restore the originals.
	exec 1>&7 2>&8
	if declare -F e2e_cleanup_first >/dev/null; then e2e_cleanup_first "$rc"; fi
	stop_rvsd || rc=1
	if { [ "$rc" -ne 0 ] || [ -n "${E2E_VERBOSE:-}" ]; } && [ -s "$tmp/rvsd.log" ]; then
		echo "--- rvsd output (last 40 lines) ---"
		tail -n 40 "$tmp/rvsd.log"
		echo "---"
	fi
	if declare -F e2e_cleanup_more >/dev/null; then e2e_cleanup_more "$rc"; fi
	topo_down "$prefix"
	rm -rf -- "$tmp"
	if [ "$rc" -eq 0 ]; then
		echo "PASS: $name"
	else
		echo "FAIL: $name"
	fi
	exit "$rc"
}

# e2e_begin: after `name` and `prefix` are set. Sets `rvsd` (RVSD or the repository's
# release build) and `tmp` (a fresh directory cleanup() removes), installs the traps,
# fails unless root and rvsd is executable.
e2e_begin() {
	rvsd=${RVSD:-$root/target/release/rvsd}
	tmp=$(mktemp -d "/tmp/rvs-e2e-$name.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	[ "$(id -u)" -eq 0 ] || fail "needs root (network namespaces)"
	[ -x "$rvsd" ] || fail "rvsd not found at $rvsd (build it: cargo build --release -p control --bin rvsd, or set RVSD)"
}

# start_rvsd ARGS...: rvsd in the director namespace, output to $tmp/rvsd.log.
start_rvsd() {
	topo_bg "$prefix" lb "$tmp/rvsd.log" "$rvsd" "$@"
	rvsd_pid=$TOPO_BG_PID
}
# Wait until http://VIP/ answers from the client namespace CLIENT, at most TIMEOUT
# seconds, failing the test if rvsd exits first.
wait_vip() {
	local client=$1 timeout=$2 deadline=$((SECONDS + $2))
	until http_get "$client" "http://$TOPO_VIP/" 1 >/dev/null 2>&1; do
		kill -0 "$rvsd_pid" 2>/dev/null || fail "rvsd exited before the VIP answered"
		[ "$SECONDS" -lt "$deadline" ] || fail "no HTTP answer from the VIP $TOPO_VIP within ${timeout}s"
		sleep 0.2
	done
}

# rvsd_yaml_ports WORKERS [ipv6]: the `dataplane:` and `interfaces:` sections most
# tests' rvs.yaml share: WORKERS workers on lcores 1.., no hugepages, the
# director's veth ends rvs-wan/rvs-lan as af_packet ports (WORKERS queue pairs each)
# with the director's addresses, plus its IPv6 gateway addresses with `ipv6`.
rvsd_yaml_ports() {
	local workers=$1 qpairs="" wan_addrs=198.18.0.254/24 lan_addrs=198.19.0.254/24
	[ "$workers" -eq 1 ] || qpairs=",qpairs=$workers"
	if [ "${2:-}" = ipv6 ]; then
		wan_addrs="$wan_addrs, \"$TOPO_WAN_GW6/64\""
		lan_addrs="$lan_addrs, \"$TOPO_LAN_GW6/64\""
	fi
	cat <<YAML
dataplane:
  main_lcore: 0
  worker_lcores: [$(seq -s, 1 "$workers")]
  polling: adaptive
  eal_args: ["--no-huge", "-m", "512"]
interfaces:
  - { name: wan0, device: "net_af_packet0,iface=rvs-wan$qpairs", addresses: [$wan_addrs] }
  - { name: lan0, device: "net_af_packet1,iface=rvs-lan$qpairs", addresses: [$lan_addrs] }
YAML
}

# http_rr_alternates CLIENT: 20 sequential new connections from the client namespace
# CLIENT to http://VIP/ must each answer rs1 or rs2, never the same one twice in a row.
http_rr_alternates() {
	local client=$1 i body prev=""
	for i in $(seq 1 20); do
		body=$(http_get "$client" "http://$TOPO_VIP/" 3) || fail "curl #$i to http://$TOPO_VIP/ failed"
		printf '  curl #%-2d %s\n' "$i" "$body"
		case $body in
		rs1 | rs2) ;;
		*) fail "curl #$i: unexpected body '$body' (expected rs1 or rs2)" ;;
		esac
		[ "$body" != "$prev" ] || fail "curl #$i: $body twice in a row (rr must alternate)"
		prev=$body
	done
	echo "20 HTTP requests alternated rs1/rs2"
}
