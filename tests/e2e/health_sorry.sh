#!/usr/bin/env bash
# The sorry server end to end (issue #9): two real servers with an HTTP check and a sorry
# server (on rs2's host, port 8080). Checks:
#   - stop both servers -> within fall x interval + 1 s the sorry server answers the VIP,
#     /v1/health says sorry_server_active;
#   - start rs1 -> within rise x interval + 1 s traffic returns to it, and the sorry
#     server gets no request after that.
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

name=health_sorry
prefix="rvss$$"
interval_ms=500
rise=2
fall=2

e2e_begin

cat >"$tmp/rvs.yaml" <<YAML
$(rvsd_yaml_ports 1)
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: rr
    method: masq
    health_check: { type: http, path: /, interval: ${interval_ms}ms, timeout: 1s, rise: $rise, fall: $fall }
    sorry_server: 198.19.0.12:8080
    real_servers:
      - { address: 198.19.0.11, port: 80 }
      - { address: 198.19.0.12, port: 80 }
YAML

topo_up "$prefix"
hc_server_start rs1 80 rs1
hc_server_start rs2 80 rs2
hc_server_start rs2 8080 sorry
start_rvsd --config "$tmp/rvs.yaml"
wait_vip "$(topo_ns "$prefix" c)" 20
wait_state 198.19.0.11 up 10
wait_state 198.19.0.12 up 10
for i in 1 2 3 4; do
	body=$(vip_get)
	[ "$body" != sorry ] || fail "the sorry server answered while both servers were up"
done
echo "VIP answers from the real servers; sorry server idle"

down_bound=$((fall * interval_ms + 1000))
up_bound=$((rise * interval_ms + 1000))

hc_server_stop rs1 80
hc_server_stop rs2 80
t0=$(now_ms)
while :; do
	t=$(($(now_ms) - t0))
	body=$(vip_get)
	[ "$body" = sorry ] && break
	[ "$t" -lt "$down_bound" ] || fail "no answer from the sorry server within ${down_bound} ms (last: '$body')"
done
echo "both stopped: the sorry server answers after ${t} ms (bound ${down_bound} ms)"
admin_has /v1/health/tcp:198.18.0.100:80 '"sorry_server_active":true' || fail "/v1/health does not show the sorry server in use"
for i in 1 2 3; do
	body=$(vip_get)
	[ "$body" = sorry ] || fail "request #$i with both servers down got '$body', expected the sorry server"
done

hc_server_start rs1 80 rs1
t1=$(now_ms)
while :; do
	t=$(($(now_ms) - t1))
	body=$(vip_get)
	[ "$body" = rs1 ] && break
	[ "$t" -lt "$up_bound" ] || fail "traffic did not return to rs1 within ${up_bound} ms (last: '$body')"
done
echo "rs1 started: traffic back on it after ${t} ms (bound ${up_bound} ms)"
for i in $(seq 1 6); do
	body=$(vip_get)
	[ "$body" = rs1 ] || fail "request #$i after rs1 came back got '$body', expected rs1 (rs2 down, sorry server gone)"
done
admin_has /v1/health/tcp:198.18.0.100:80 '"sorry_server_active":false' || fail "/v1/health still shows the sorry server in use"
echo "the sorry server left as soon as rs1 was back"
stop_rvsd || fail "rvsd did not stop cleanly on SIGTERM"
