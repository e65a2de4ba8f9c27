# shellcheck shell=bash disable=SC2154 # `name` comes from the sourcing test
# Shared by the e2e tests that run rvsd (sourced; run.sh skips lib*.sh).
# Expects the caller's `name` and `fail`, and keeps rvsd's PID in `rvsd_pid`.

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
