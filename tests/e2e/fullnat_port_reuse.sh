#!/usr/bin/env bash
# Tier-3 end-to-end test: FULLNAT reuses local ports at once, and the real servers still
# take every new connection without delay.
#   - A SNAT pool of 8 ports (20000-20007) and a client limited to 8 source ports: 120
#     sequential HTTP/1.0 connections (the server closes first, so each real server
#     keeps every `local address:port -> itself` tuple in TIME_WAIT for 60 s) make rvsd
#     hand each local port out ~15 times within seconds, each time for another client
#     connection (client port reuse ends the old one: IPVS's conn_reuse_mode).
#   - Linux refuses a SYN for a tuple in TIME_WAIT unless its timestamp (or, without
#     timestamps, its sequence number) is newer than the old connection's; clients
#     randomise both per connection, so without rvsd's sequence translation about half
#     of these SYNs are refused and the client retries a second later.
#   - Every connection must answer, none may take more than 0.5 s, and rs1's TCP
#     counters must show no SYN refused for PAWS in TIME_WAIT.
# Environment: RVSD (path of rvsd; default target/release/rvsd of this repository),
# E2E_VERBOSE (non-empty: print rvsd's output even when the test passes).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns.sh
source "$root/scripts/netns.sh"
# shellcheck source=SCRIPTDIR/lib_rvsd.sh
source "$here/lib_rvsd.sh"

name=fullnat_port_reuse
prefix="fnreuse$$"
stop_timeout=10

e2e_begin

cat >"$tmp/rvs.yaml" <<EOF
$(rvsd_yaml_ports 1)

snat_pools:
  - { name: small, addresses: [198.19.0.250], ports: 20000-20007 }

services:
  - { proto: tcp, vip: 198.18.0.100, port: 80, scheduler: rr, method: fullnat, snat_pool: small,
      real_servers: [ { address: 198.19.0.11 }, { address: 198.19.0.12 } ] }
EOF

topo_up "$prefix"
rs_start_http "$prefix"
client=$(topo_ns "$prefix" c)
rs1=$(topo_ns "$prefix" rs1)
# Eight source ports: the client reuses them as soon as a connection has closed.
ip netns exec "$client" sh -c 'echo "41000 41007" >/proc/sys/net/ipv4/ip_local_port_range'

start_rvsd --config "$tmp/rvs.yaml"
echo "rvsd started (pid $rvsd_pid)"
wait_vip "$client" 20

paws() { ip netns exec "$rs1" nstat -az TcpExtPAWSTimewait | awk '/PAWSTimewait/ {print $2}'; }
paws_before=$(paws)
ip netns exec "$client" python3 "$here/helpers/sequential_http.py" "$TOPO_VIP" 120 "through 8 local ports" --even ||
	fail "connections through the reused local ports failed or stalled"
paws_after=$(paws)
echo "rs1 TcpExtPAWSTimewait: ${paws_before:-0} -> ${paws_after:-0}"
[ "${paws_after:-0}" -eq "${paws_before:-0}" ] || fail "rs1 refused SYNs for PAWS in TIME_WAIT"
[ "$(ip netns exec "$rs1" ss -tan state time-wait | grep -c '198.19.0.250:2000')" -gt 0 ] ||
	fail "rs1 holds no local-port tuple in TIME_WAIT: the test did not exercise reuse"

stop_rvsd || fail "rvsd did not stop cleanly on SIGTERM"
