#!/usr/bin/env bash
# Reloads under load: a client curls the VIP in a loop (a new TCP connection each time)
# while rvsadm adds and removes a third real server 50 times (100 configuration
# generations published to the worker). Checks:
#   - no request fails, before, during or after the reloads;
#   - the third real server receives traffic while it is in the service;
#   - every change became a new generation (rvs_config_generation).
# Environment: RVSD (path of rvsd; rvsadm is taken from the same directory).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns.sh
source "$root/scripts/netns.sh"
# shellcheck source=SCRIPTDIR/lib_rvsd.sh
source "$here/lib_rvsd.sh"

name=reload_under_load
prefix="rvsr$$"
loop_pid=""
reloads=50

# The load generator must not outlive the test.
e2e_cleanup_first() { [ -n "$loop_pid" ] && kill "$loop_pid" 2>/dev/null && wait "$loop_pid" 2>/dev/null; }

e2e_begin
rvsadm=$(dirname "$rvsd")/rvsadm
[ -x "$rvsadm" ] || fail "rvsadm not found at $rvsadm"

echo "reload-test-token" >"$tmp/token"
cat >"$tmp/rvs.yaml" <<EOF
$(rvsd_yaml_ports 1)
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: rr
    method: masq
    real_servers:
      - { address: 198.19.0.11, port: 80 }
      - { address: 198.19.0.12, port: 80 }
admin:
  listen: 127.0.0.1:9180
  token_file: $tmp/token
EOF

topo_up "$prefix"
rs_start_http "$prefix"
client=$(topo_ns "$prefix" c)
lb=$(topo_ns "$prefix" lb)
# The third real server: another web server on rs2's host, port 8080, answering rs3.
mkdir -p "$tmp/rs3"
echo rs3 >"$tmp/rs3/index.html"
topo_bg "$prefix" rs2 "$tmp/rs3.log" python3 -m http.server 8080 --bind 198.19.0.12 --directory "$tmp/rs3"
wait_listen "$(topo_ns "$prefix" rs2)" tcp 8080 10 || fail "rs3 web server did not start"

start_rvsd --config "$tmp/rvs.yaml"
wait_vip "$client" 20
adm() { ip netns exec "$lb" "$rvsadm" --token-file "$tmp/token" "$@"; }
gen() { ip netns exec "$lb" curl -s --max-time 5 http://127.0.0.1:9180/metrics | awk '$1 == "rvs_config_generation" {print $2}'; }
gen0=$(gen)

# The load: sequential new connections, each must answer within 3 s.
(
	for i in $(seq 1 4000); do
		[ -e "$tmp/stop" ] && break
		if body=$(ip netns exec "$client" curl -s --max-time 3 "http://$TOPO_VIP/"); then
			echo "$body"
		else
			echo "FAIL #$i"
		fi
	done
) >"$tmp/answers.txt" &
loop_pid=$!

sleep 0.5
for i in $(seq 1 "$reloads"); do
	adm -a -t 198.18.0.100:80 -r 198.19.0.12:8080 -m || fail "reload $i: rvsadm -a failed"
	sleep 0.15
	adm -d -t 198.18.0.100:80 -r 198.19.0.12:8080 || fail "reload $i: rvsadm -d failed"
	sleep 0.05
done
# Finally keep rs3 in for a while: it must take its share of new connections.
adm -a -t 198.18.0.100:80 -r 198.19.0.12:8080 -m || fail "final rvsadm -a failed"
before_final=$(wc -l <"$tmp/answers.txt")
sleep 2
touch "$tmp/stop"
wait "$loop_pid" || true
loop_pid=""
adm -Ln

total=$(wc -l <"$tmp/answers.txt")
failed=$(grep -c '^FAIL' "$tmp/answers.txt" || true)
rs3=$(grep -cx 'rs3' "$tmp/answers.txt" || true)
rs3_final=$(tail -n +"$((before_final + 1))" "$tmp/answers.txt" | grep -cx 'rs3' || true)
gen1=$(gen)
echo "requests: $total, failed: $failed, answered by rs3: $rs3 ($rs3_final after the last add)"
echo "configuration generation: $gen0 -> $gen1"
[ "$total" -ge 100 ] || fail "only $total requests ran during the reloads"
[ "$failed" -eq 0 ] || fail "$failed of $total requests failed during reloads: $(grep '^FAIL' "$tmp/answers.txt" | head -5 | tr '\n' ' ')"
[ "$rs3" -gt 0 ] || fail "the third real server never received traffic"
[ "$rs3_final" -gt 0 ] || fail "the third real server received no traffic after it was added the last time"
[ "$((gen1 - gen0))" -eq $((2 * reloads + 1)) ] || fail "expected $((2 * reloads + 1)) new generations, got $((gen1 - gen0))"
