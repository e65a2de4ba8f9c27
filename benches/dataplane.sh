#!/usr/bin/env bash
# Dataplane benchmark (short profile): one busy-polling rvsd worker NATing established
# TCP flows read from a pcap (net_pcap, infinite_rx) and sent back out of the same port
# (one-armed, tx to /dev/null), against dpdk-testpmd io forwarding on the same vdev as the
# I/O ceiling. Prints Mpps for both, the ratio, and rvsd's cycles per packet.
# Usage: bash benches/dataplane.sh [SECONDS] [FLOWS] [PACKETS_PER_FLOW]   (as root)
# RVS_BENCH_EXCEPTION_PATH=true gives the port its kernel TAP (the worker then also polls
# it); the default false leaves the machine's kernel untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
flows=${2:-1024}
per_flow=${3:-16}
dir=$(mktemp -d /tmp/rvs-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT

cargo build --release -q -p control --bin rvsd -p benches --bin rvs-trace
bin=${CARGO_TARGET_DIR:-target}/release
"$bin"/rvs-trace "$dir/trace.pcap" "$flows" "$per_flow" 60
dev="net_pcap0,rx_pcap=$dir/trace.pcap,infinite_rx=1,tx_pcap=/dev/null"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cat >"$dir/rvs.yaml" <<YAML
dataplane:
  worker_lcores: [1]
  polling: busy
  eal_args: ["--no-huge", "-m", "1024"]
  mbufs: 65535
interfaces:
  - { name: wan0, device: "$dev", addresses: [198.18.0.254/24], exception_path: ${RVS_BENCH_EXCEPTION_PATH:-false}, kernel_name: "rvsb$$" }
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: rr
    method: masq
    real_servers: [ { address: 198.18.0.11 }, { address: 198.18.0.12 } ]
admin:
  listen: 127.0.0.1:$port
YAML

stats() { curl -s "http://127.0.0.1:$port/v1/stats"; }
"$bin"/rvsd --config "$dir/rvs.yaml" --no-garp >"$dir/rvsd.log" 2>&1 &
rvsd_pid=$!
for _ in $(seq 100); do stats >/dev/null 2>&1 && break; sleep 0.1; done
sleep 2 # warm up: connections created, caches hot
stats >"$dir/s1.json"
t1=$(date +%s.%N)
sleep "$secs"
stats >"$dir/s2.json"
t2=$(date +%s.%N)
kill -TERM "$rvsd_pid"
wait "$rvsd_pid" || true

rvs=$(python3 - "$dir/s1.json" "$dir/s2.json" "$t1" "$t2" <<'PY'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
dt = float(sys.argv[4]) - float(sys.argv[3])
tx = b["ports"][0]["tx_packets"] - a["ports"][0]["tx_packets"]
rx = b["ports"][0]["rx_packets"] - a["ports"][0]["rx_packets"]
cyc = b["busy_cycles"] - a["busy_cycles"]
drops = {k: v - a["drops"][k] for k, v in b["drops"].items() if v != a["drops"][k]}
print(f"{tx / dt / 1e6:.2f} {cyc / max(rx, 1):.0f} {drops}")
PY
)
read -r rvs_mpps rvs_cpp rvs_drops <<<"$rvs"

timeout $((secs + 15)) dpdk-testpmd -l 0-1 --no-pci --no-huge -m 1024 --file-prefix "rvsbench$$" --vdev="$dev" -- \
	--total-num-mbufs=65536 --forward-mode=io --port-topology=loop --auto-start --stats-period 2 \
	</dev/null >"$dir/testpmd.log" 2>&1 &
tp=$!
sleep $((secs + 3))
kill -INT "$tp" 2>/dev/null || true
wait "$tp" 2>/dev/null || true
tp_pps=$(grep -o 'Tx-pps: *[0-9]*' "$dir/testpmd.log" | awk '{print $2}' | tail -n 3 | sort -n | tail -n 1)
tp_mpps=$(python3 -c "print(f'{${tp_pps:-0}/1e6:.2f}')")

echo "dataplane benchmark: $flows flows x $per_flow packets, 64-byte frames, ${secs}s, one worker, net_pcap infinite_rx -> /dev/null"
printf '  %-34s %8s Mpps  (%s cycles/packet in busy loops; drops %s)\n' "rvsd NAT established" "$rvs_mpps" "$rvs_cpp" "$rvs_drops"
printf '  %-34s %8s Mpps\n' "dpdk-testpmd io (same vdev)" "$tp_mpps"
python3 -c "print(f'  rvs / testpmd = {$rvs_mpps / max($tp_mpps, 0.001):.2f}')"
