#!/usr/bin/env bash
# Health checks end to end (issue #9): two real servers behind the VIP with an HTTP check
# run by rvsd over its exception path (the director's kernel reaches the real servers
# through rvsd's TAP interfaces). Checks:
#   - stop rs1's server -> within fall x interval + 1 s every new request goes to rs2, and
#     no request fails after that point; rvsadm -Ln shows rs1 with weight 0 (quiescent),
#     /v1/health says down with the reason, /metrics has rvs_ipvs_backend_up 0;
#   - start it again -> within rise x interval + 1 s traffic alternates rs1/rs2 again;
#   - prints the measured detection times (traffic side and health-state side).
# Environment: RVSD (path of rvsd; default target/release/rvsd), E2E_VERBOSE.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns.sh
source "$root/scripts/netns.sh"
# shellcheck source=SCRIPTDIR/lib_rvsd.sh
source "$here/lib_rvsd.sh"
# shellcheck source=SCRIPTDIR/lib_health.sh
source "$here/lib_health.sh"

name=health_http
prefix="rvsh$$"
interval_ms=1000
rise=2
fall=3

e2e_begin

cat >"$tmp/rvs.yaml" <<YAML
$(rvsd_yaml_ports 1)
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: rr
    method: masq
    health_check: { type: http, path: /, expect_body: rs, interval: ${interval_ms}ms, timeout: 1s, rise: $rise, fall: $fall }
    real_servers:
      - { address: 198.19.0.11, port: 80 }
      - { address: 198.19.0.12, port: 80 }
YAML

topo_up "$prefix"
hc_server_start rs1 80 rs1
hc_server_start rs2 80 rs2
start_rvsd --config "$tmp/rvs.yaml"
wait_vip "$(topo_ns "$prefix" c)" 20
wait_state 198.19.0.11 up 10
wait_state 198.19.0.12 up 10
echo "VIP answers; both real servers up"

down_bound=$((fall * interval_ms + 1000))
up_bound=$((rise * interval_ms + 1000))

# --- rs1 stops ---------------------------------------------------------------------
log_mark=$(wc -l <"$tmp/rvsd.log")
hc_server_stop rs1 80
t0=$(now_ms)
last_bad=-1 # ms after t0 of the last request that failed or reached rs1
n=0
while :; do
	t=$(($(now_ms) - t0))
	[ "$t" -lt $((down_bound + 3000)) ] || break
	body=$(vip_get)
	n=$((n + 1))
	if [ "$body" != rs2 ]; then
		last_bad=$t
		[ "$t" -lt "$down_bound" ] || fail "request at +${t} ms got '$body' (after the bound of ${down_bound} ms every request must reach rs2)"
	fi
done
[ "$(rs_state 198.19.0.11)" = down ] || fail "rs1 never marked down"
marked=$(($(rs_transition_ms 198.19.0.11) - t0))
[ "$marked" -le "$down_bound" ] || fail "rs1 marked down after ${marked} ms (bound ${down_bound} ms)"
echo "rs1 stopped: marked down after ${marked} ms; last request that missed rs2 at +${last_bad} ms; $n requests, bound ${down_bound} ms (fall $fall x ${interval_ms} ms + 1 s)"

rvsadm=$(dirname "$rvsd")/rvsadm
if [ -x "$rvsadm" ]; then
	ip netns exec "$(topo_ns "$prefix" lb)" "$rvsadm" -Ln >"$tmp/ln.txt" || fail "rvsadm -Ln failed"
	cat "$tmp/ln.txt"
	grep -Eq -- '-> 198\.19\.0\.11:80 +Masq +0 ' "$tmp/ln.txt" || fail "rvsadm -Ln does not show rs1 with weight 0"
	grep -Eq -- '-> 198\.19\.0\.12:80 +Masq +1 ' "$tmp/ln.txt" || fail "rvsadm -Ln does not show rs2 with weight 1"
fi
admin_has /v1/health/tcp:198.18.0.100:80 refused || fail "/v1/health does not give the reason"
admin_has /metrics 'rvs_ipvs_backend_up{.*remote_address="198.19.0.11".*} 0' || fail "/metrics lacks rvs_ipvs_backend_up 0 for rs1"

# --- rs1 starts again --------------------------------------------------------------
hc_server_start rs1 80 rs1
t1=$(now_ms)
first_rs1=""
while :; do
	t=$(($(now_ms) - t1))
	body=$(vip_get)
	case $body in rs1 | rs2) ;; *) fail "request at +${t} ms failed ('$body') while rs2 was up" ;; esac
	if [ "$body" = rs1 ]; then
		first_rs1=$t
		break
	fi
	[ "$t" -lt "$up_bound" ] || fail "no request reached rs1 within ${up_bound} ms of its restart"
done
marked=$(($(rs_transition_ms 198.19.0.11) - t1))
echo "rs1 started: marked up after ${marked} ms, first request to it after ${first_rs1} ms (bound ${up_bound} ms, rise $rise x ${interval_ms} ms + 1 s)"
prev=rs1
for i in $(seq 1 10); do
	body=$(vip_get)
	case $body in rs1 | rs2) ;; *) fail "request #$i after recovery failed ('$body')" ;; esac
	[ "$body" != "$prev" ] || fail "request #$i after recovery: $body twice (rr must alternate again)"
	prev=$body
done
echo "traffic alternates rs1/rs2 again"
# Each transition logged once (the kernel interfaces may come up after the first checks,
# so only what follows the stop counts).
tail -n "+$((log_mark + 1))" "$tmp/rvsd.log" >"$tmp/transitions.log"
downs=$(grep -c "real server down" "$tmp/transitions.log" || true)
ups=$(grep -c "real server up" "$tmp/transitions.log" || true)
{ [ "$downs" -eq 1 ] && [ "$ups" -eq 1 ]; } || fail "expected one down and one up transition logged, got $downs and $ups"
grep "real server" "$tmp/transitions.log"
stop_rvsd || fail "rvsd did not stop cleanly on SIGTERM"
