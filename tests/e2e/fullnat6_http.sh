#!/usr/bin/env bash
# Tier-3 end-to-end test of FULLNAT over IPv6 through rvsd, with two workers on
# two-queue af_packet ports (the kernel's fanout spreads packets over both queues):
#   - the real servers have NO IPv6 route back to the client (their default route via
#     the director is removed): they answer the local address (LIP) 2001:2:0:1::fa on
#     their own subnet, which rvsd answers in NDP on its lan port;
#   - 20 sequential curl -6 to [2001:2::100]:80 alternate rs1/rs2 (rr) and every request
#     in the real servers' access logs (python http.server) comes from the LIP, never
#     the client;
#   - TOA: a capture on rs1 shows the client's IPv6 address and port in TCP option 254
#     of length 20 on its connections' first ACK/data packets, and the MSS of their SYNs
#     lowered by 20;
#   - both workers received packets and replies were steered (owner by local port);
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

name=fullnat6_http
prefix="fnat6-$$"
lip=2001:2:0:1::fa
vip_timeout=20
stop_timeout=10
vip_url="http://[$TOPO_VIP6]/"

e2e_begin

cat >"$tmp/rvs.yaml" <<EOF
$(rvsd_yaml_ports 2 ipv6)

snat_pools:
  - { name: pool6, addresses: ["$lip"] }

services:
  - proto: tcp
    vip: "$TOPO_VIP6"
    port: 80
    scheduler: rr
    method: fullnat
    snat_pool: pool6
    real_servers:
      - { address: "$TOPO_RS1_ADDR6", port: 80 }
      - { address: "$TOPO_RS2_ADDR6", port: 80 }
EOF

topo_up "$prefix"
topo_ipv6_up "$prefix"
# FULLNAT needs no route from the real servers back to the client.
for rs in rs1 rs2; do
	ip -n "$(topo_ns "$prefix" "$rs")" -6 route del default
done
client=$(topo_ns "$prefix" c)
state=$(topo_state_dir "$prefix")

# One small HTTP server per real server on its IPv6 address; its request log (stderr)
# names the peer address the server saw.
declare -A rs_pid=()
for rs in rs1 rs2; do
	case $rs in
	rs1) addr=$TOPO_RS1_ADDR6 ;;
	rs2) addr=$TOPO_RS2_ADDR6 ;;
	esac
	mkdir -p "$state/$rs-www"
	printf '%s\n' "$rs" >"$state/$rs-www/index.html"
	topo_bg "$prefix" "$rs" "$state/$rs-http6.log" "$(_topo_python)" -m http.server \
		--bind "$addr" --directory "$state/$rs-www" 80
	rs_pid[$rs]=$TOPO_BG_PID
done
for rs in rs1 rs2; do
	wait_listen "$(topo_ns "$prefix" "$rs")" tcp 80 10 "${rs_pid[$rs]}" ||
		fail "$rs: HTTP server did not start ($(cat "$state/$rs-http6.log"))"
done

start_rvsd --config "$tmp/rvs.yaml" --stats-file "$tmp/stats.json"
echo "rvsd started (pid $rvsd_pid) in $(topo_ns "$prefix" lb)"
started=$SECONDS
deadline=$((SECONDS + vip_timeout))
until ip netns exec "$client" curl -6 -sSf --noproxy '*' --connect-timeout 1 -m 1 "$vip_url" >/dev/null 2>&1; do
	kill -0 "$rvsd_pid" 2>/dev/null || fail "rvsd exited before the VIP answered"
	[ "$SECONDS" -lt "$deadline" ] || fail "no HTTP answer from $vip_url within ${vip_timeout}s"
	sleep 0.2
done
echo "VIP $vip_url answers HTTP after $((SECONDS - started)) s"

# Only the requests below count: remember where each access log ends now.
declare -A log_start=()
for rs in rs1 rs2; do
	log_start[$rs]=$(($(wc -l <"$state/$rs-http6.log") + 1))
done
# Capture what reaches rs1 (TOA check below).
topo_bg "$prefix" rs1 "$tmp/tcpdump.log" tcpdump -Z root --immediate-mode -i eth0 -U -n -s 200 -w "$tmp/rs1.pcap" ip6 and tcp port 80
tcpdump_pid=$TOPO_BG_PID
for _ in $(seq 1 50); do
	grep -q "listening on" "$tmp/tcpdump.log" 2>/dev/null && break
	sleep 0.1
done

prev=""
for i in $(seq 1 20); do
	body=$(ip netns exec "$client" curl -6 -sSf --noproxy '*' --connect-timeout 3 -m 3 "$vip_url") ||
		fail "curl -6 #$i to $vip_url failed"
	case $body in
	rs1 | rs2) ;;
	*) fail "curl #$i: unexpected body '$body' (expected rs1 or rs2)" ;;
	esac
	[ "$body" != "$prev" ] || fail "curl #$i: $body twice in a row (rr must alternate)"
	prev=$body
done
echo "20 HTTP requests over IPv6 FULLNAT alternated rs1/rs2"
sleep 1
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" 2>/dev/null || true

python3 - "$tmp/rs1.pcap" "$TOPO_CLIENT_ADDR6" "$lip" <<'PY' || fail "TOA check on rs1's capture failed"
import ipaddress, struct, sys
path = sys.argv[1]
client, lip = ipaddress.IPv6Address(sys.argv[2]), ipaddress.IPv6Address(sys.argv[3])
data = open(path, "rb").read()
assert struct.unpack("<I", data[:4])[0] == 0xA1B2C3D4, "not a microsecond little-endian pcap"
off, toas, mss, conns = 24, {}, set(), set()
while off + 16 <= len(data):
    incl = struct.unpack("<I", data[off + 8:off + 12])[0]
    f = data[off + 16:off + 16 + incl]
    off += 16 + incl
    if f[12:14] != b"\x86\xdd":
        continue
    ip = f[14:]
    if ipaddress.IPv6Address(ip[8:24]) != lip or ip[6] != 6:
        continue
    tcp = ip[40:]
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
        if kind == 254:
            assert ln == 20, "TOA of length %d over IPv6" % ln
            port = struct.unpack("!H", opts[i + 2:i + 4])[0]
            addr = ipaddress.IPv6Address(opts[i + 4:i + 20])
            toas.setdefault(sport, set()).add((addr, port))
        if kind == 2 and flags & 0x02:
            mss.add(struct.unpack("!H", opts[i + 2:i + 4])[0])
        i += ln
print("rs1 capture: %d connections from %s, %d with TOA (kind 254 len 20), e.g. %s; SYN MSS seen: %s"
      % (len(conns), lip, len(toas), next(iter(toas.values()), None), sorted(mss)))
assert len(conns) >= 10, conns
assert set(toas) == conns, "connections without TOA: %s" % (conns - set(toas))
assert all(len(v) == 1 and next(iter(v))[0] == client for v in toas.values()), toas
assert len({p for v in toas.values() for _, p in v}) == len(toas), "one client port per connection"
assert mss == {1420}, mss
PY

for rs in rs1 rs2; do
	log=$tmp/$rs.log
	tail -n "+${log_start[$rs]}" "$state/$rs-http6.log" >"$log"
	n=$(grep -c "^$lip - .*\"GET / HTTP/1.1\" 200" "$log" || true)
	others=$(grep '"GET ' "$log" | grep -vc "^$lip " || true)
	echo "  $rs access log: $n requests from $lip, $others from other addresses; e.g. $(grep -m1 '"GET ' "$log")"
	[ "$n" -eq 10 ] || fail "$rs logged $n requests from the LIP $lip, expected 10 (log: $(tail -n 3 "$log"))"
	[ "$others" -eq 0 ] || fail "$rs logged $others requests from an address other than the LIP"
done

stop_rvsd || fail "rvsd did not stop cleanly on SIGTERM"
python3 - "$tmp/stats.json" <<'PY' || fail "workers did not share the traffic as expected"
import json, sys
s = json.load(open(sys.argv[1]))
per = s["per_worker"]
print("per worker rx:", [w["rx_packets"] for w in per], "steered out:", [w["steered_out"] for w in per],
      "connections:", [w["conns_created"] for w in per], "toa_no_room:", s["toa_no_room"],
      "drops:", {k: v for k, v in s["drops"].items() if v})
assert len(per) == 2 and all(w["rx_packets"] > 0 for w in per), "a worker received nothing"
assert sum(w["steered_out"] for w in per) > 0, "no packet was steered"
assert s["conns_created"] >= 21, s["conns_created"]
PY
echo "($((SECONDS - started)) s after rvsd start)"
