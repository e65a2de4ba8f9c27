#!/usr/bin/env bash
# Tier-3 end-to-end test of FULLNAT through rvsd, with two workers on two-queue
# af_packet ports (the kernel's fanout spreads packets over both queues):
#   - the real servers have NO route back to the client (their default route via the
#     director is removed): they answer the local address (LIP) 198.19.0.250 on their own
#     subnet, for which rvsd answers ARP on its lan port;
#   - 20 sequential curls to the VIP alternate rs1/rs2 (rr) and every request in the real
#     servers' access logs (python http.server) comes from the LIP, never the client;
#   - a second service draws from a tiny SNAT pool (198.19.0.251, ports 6000-6003: two
#     ports per worker, and all flows of one client belong to one worker): two held
#     connections take both, the third is refused (no answer), the refusal is counted in
#     /v1/stats (drops.snat_exhausted) and /metrics, and the two held connections still
#     work afterwards;
#   - TOA: a capture on rs1 shows the client's address and port in TCP option 254 of its
#     connections' first ACK/data packets, and the MSS of their SYNs lowered by 8;
#   - both workers received packets and replies were steered (owner by local port);
#   - rvsd asked each port for rte_flow reply-steering rules (af_packet has none) and says
#     that replies are steered in software;
#   - rvsd stops cleanly on SIGTERM.
# Environment: RVSD (path of rvsd; default target/release/rvsd of this repository),
# E2E_VERBOSE (non-empty: print rvsd's output even when the test passes).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns.sh
source "$root/scripts/netns.sh"
# shellcheck source=SCRIPTDIR/lib_rvsd.sh
source "$here/lib_rvsd.sh"

name=fullnat_http
prefix="fullnat$$"
lip=198.19.0.250
tiny_lip=198.19.0.251
stop_timeout=10

e2e_begin

cat >"$tmp/rvs.yaml" <<EOF
$(rvsd_yaml_ports 2)

snat_pools:
  - { name: pool1, addresses: [$lip] }
  - { name: tiny, addresses: [$tiny_lip], ports: 6000-6003 }

services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: rr
    method: fullnat
    snat_pool: pool1
    real_servers:
      - { address: 198.19.0.11, port: 80 }
      - { address: 198.19.0.12, port: 80 }
  - proto: tcp
    vip: 198.18.0.100
    port: 8080
    scheduler: rr
    method: fullnat
    snat_pool: tiny
    real_servers:
      - { address: 198.19.0.11, port: 80 }
      - { address: 198.19.0.12, port: 80 }
EOF

topo_up "$prefix"
# FULLNAT needs no route from the real servers back to the client.
for rs in rs1 rs2; do
	ip -n "$(topo_ns "$prefix" "$rs")" route del default
done
# python http.server: threaded (held connections do not block others) and it logs every
# request with the peer address.
RVS_HTTP_SERVER=python rs_start_http "$prefix"
client=$(topo_ns "$prefix" c)
lb=$(topo_ns "$prefix" lb)
state=$(topo_state_dir "$prefix")

start_rvsd --config "$tmp/rvs.yaml" --stats-file "$tmp/stats.json"
echo "rvsd started (pid $rvsd_pid) in $lb"
started=$SECONDS
wait_vip "$client" 20
echo "VIP $TOPO_VIP answers HTTP after $((SECONDS - started)) s"

# Only the requests below count: remember where each access log ends now.
declare -A log_start=()
for rs in rs1 rs2; do
	log_start[$rs]=$(($(wc -l <"$state/$rs-http/server.log") + 1))
done
# Capture what reaches rs1 (TOA check below).
topo_bg "$prefix" rs1 "$tmp/tcpdump.log" tcpdump -Z root --immediate-mode -i eth0 -U -n -s 200 -w "$tmp/rs1.pcap" tcp port 80
tcpdump_pid=$TOPO_BG_PID
for _ in $(seq 1 50); do
	grep -q "listening on" "$tmp/tcpdump.log" 2>/dev/null && break
	sleep 0.1
done
http_rr_alternates "$client"
sleep 1
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" 2>/dev/null || true
python3 - "$tmp/rs1.pcap" "$TOPO_CLIENT_ADDR" "$lip" <<'PY' || fail "TOA check on rs1's capture failed"
import socket, struct, sys
path, client, lip = sys.argv[1], sys.argv[2], sys.argv[3]
data = open(path, "rb").read()
assert struct.unpack("<I", data[:4])[0] == 0xA1B2C3D4, "not a microsecond little-endian pcap"
off, toas, mss, conns = 24, {}, set(), set()
while off + 16 <= len(data):
    incl = struct.unpack("<I", data[off + 8:off + 12])[0]
    f = data[off + 16:off + 16 + incl]
    off += 16 + incl
    if f[12:14] != b"\x08\x00":
        continue
    ip = f[14:]
    hl = (ip[0] & 15) * 4
    if socket.inet_ntoa(ip[12:16]) != lip or ip[9] != 6:
        continue
    tcp = ip[hl:]
    sport, flags, thl = struct.unpack("!H", tcp[:2])[0], tcp[13], (tcp[12] >> 4) * 4
    conns.add(sport)
    opts, i = tcp[20:thl], 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        ln = opts[i + 1]
        if kind == 254 and ln == 8:
            port, addr = struct.unpack("!H", opts[i + 2:i + 4])[0], socket.inet_ntoa(opts[i + 4:i + 8])
            toas.setdefault(sport, set()).add((addr, port))
        if kind == 2 and flags & 0x02:
            mss.add(struct.unpack("!H", opts[i + 2:i + 4])[0])
        i += ln
print("rs1 capture: %d connections from %s, %d with TOA, e.g. %s; SYN MSS seen: %s"
      % (len(conns), lip, len(toas), next(iter(toas.values()), None), sorted(mss)))
assert len(conns) >= 10, conns
assert set(toas) == conns, "connections without TOA: %s" % (conns - set(toas))
assert all(len(v) == 1 and next(iter(v))[0] == client for v in toas.values()), toas
assert len({p for v in toas.values() for _, p in v}) == len(toas), "one client port per connection"
assert mss == {1452}, mss
PY
for rs in rs1 rs2; do
	tail -n "+${log_start[$rs]}" "$state/$rs-http/server.log" >"$tmp/$rs.log"
	log=$tmp/$rs.log
	n=$(grep -c "^$lip - .*\"GET / HTTP/1.1\" 200" "$log" || true)
	others=$(grep '"GET ' "$log" | grep -vc "^$lip " || true)
	echo "  $rs access log: $n requests from $lip, $others from other addresses; e.g. $(grep -m1 '"GET ' "$log")"
	[ "$n" -eq 10 ] || fail "$rs logged $n requests from the LIP $lip, expected 10 (log: $(tail -n 3 "$log"))"
	[ "$others" -eq 0 ] || fail "$rs logged $others requests from an address other than the LIP"
done

# The tiny pool: hold two connections, the third is refused, the two still work.
stats_drop() {
	ip netns exec "$lb" curl -s --max-time 5 http://127.0.0.1:9180/v1/stats |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["drops"]["snat_exhausted"])'
}
before=$(stats_drop) || fail "admin API did not answer GET /v1/stats"
ip netns exec "$client" python3 - "$TOPO_VIP" 8080 <<'PY' || fail "tiny SNAT pool behaved wrongly"
import socket, sys
vip, port = sys.argv[1], int(sys.argv[2])
held = []
for i in range(2):
    s = socket.create_connection((vip, port), timeout=3)
    held.append(s)
print("held 2 connections through the tiny pool")
extra = socket.socket()
extra.settimeout(2.5)
try:
    extra.connect((vip, port))
    sys.exit("a third connection went through an exhausted pool")
except (socket.timeout, OSError) as e:
    print("third connection refused:", type(e).__name__)
bodies = []
for s in held:
    s.sendall(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    bodies.append(data.split(b"\r\n\r\n", 1)[1].strip().decode())
print("held connections answered:", bodies)
assert sorted(bodies) == ["rs1", "rs2"], bodies
PY
after=$(stats_drop) || fail "admin API did not answer GET /v1/stats"
echo "drops.snat_exhausted: $before -> $after"
[ "$after" -gt "$before" ] || fail "the refused connection was not counted in drops.snat_exhausted"
ip netns exec "$lb" curl -s --max-time 5 http://127.0.0.1:9180/metrics >"$tmp/metrics.txt" || fail "no /metrics"
m=$(awk '/^rvs_dropped_packets_total\{.*reason="snat_exhausted"/ {s += $NF} END {print s + 0}' "$tmp/metrics.txt")
echo "/metrics rvs_dropped_packets_total{reason=\"snat_exhausted\"} summed over workers: $m"
[ "$m" -ge "$after" ] || fail "/metrics counts $m SNAT refusals, /v1/stats $after"
# The tiny pool's requests came from its own local address.
grep -q "^$tiny_lip - " "$state/rs1-http/server.log" "$state/rs2-http/server.log" ||
	fail "no request from the tiny pool's address $tiny_lip in the access logs"

# Hardware steering was asked for on both ports; af_packet has no flow rules.
for ifc in wan0 lan0; do
	grep "interface=$ifc" "$tmp/rvsd.log" | grep -q "FULLNAT replies reach their worker by software steering.*the port takes no flow rule" ||
		fail "rvsd did not report the rte_flow probe of $ifc"
done
echo "rte_flow probe: $(grep -m1 -o 'reason=.*' "$tmp/rvsd.log" | cut -c1-120)"

stop_rvsd || fail "rvsd did not stop cleanly on SIGTERM"
python3 - "$tmp/stats.json" <<'PY' || fail "workers did not share the traffic as expected"
import json, sys
s = json.load(open(sys.argv[1]))
per = s["per_worker"]
print("per worker rx:", [w["rx_packets"] for w in per], "steered out:", [w["steered_out"] for w in per],
      "connections:", [w["conns_created"] for w in per])
assert len(per) == 2 and all(w["rx_packets"] > 0 for w in per), "a worker received nothing"
assert sum(w["steered_out"] for w in per) > 0, "no packet was steered"
PY
echo "($((SECONDS - started)) s after rvsd start)"
