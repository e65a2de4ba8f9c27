#!/usr/bin/env bash
# End-to-end benchmark of issue #10: wrk in the client namespace of scripts/netns.sh, two
# nginx real servers, and in the director namespace one after the other:
#   (0) no director: the namespace only routes, wrk asks the real servers directly (the
#       ceiling of this machine's clients and servers; not a load balancer),
#   (a) rvsd NAT (and FULLNAT once rvsd accepts it) on net_af_xdp,
#   (b) the kernel's NAT: nftables DNAT with `numgen inc` round robin
#       (tests/e2e/helpers/nft_director.sh),
#   (c) HAProxy in TCP mode (a proxy: two TCP connections per client connection).
# Same hosts, same run; each in HTTP keep-alive mode and in new-connection mode
# (`Connection: close`: one TCP connection per request). Prints a markdown table of
# requests/s, p99 latency and ratios, and a second one of where the CPU went (machine busy
# share, CPU microseconds per request of the client, the director's tasks, the real
# servers and the whole machine; benches/cpu_snap.py), also written to OUT/summary.md.
#
# Usage (root): bash benches/e2e.sh [--seconds S] [--connections C] [--rounds N]
#               [--rvsd PATH] [--busy] [--only LIST] [--out DIR]
# --rounds N runs every director N times, interleaved (nft, HAProxy, rvsd, nft, ...), and
# reports the median of each, which tames a shared machine's noise.
# --only LIST runs only the listed directors (comma-separated: direct, nft, haproxy, nat,
# fullnat; default all).
# --busy makes rvsd poll without sleeping (it then takes a whole core of this 2-core VM
# from wrk and nginx; the default is rvsd's adaptive polling).
# Needs wrk, nginx, haproxy, nftables (bash benches/install-deps.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=SCRIPTDIR/../scripts/netns.sh
source "$root/scripts/netns.sh"

secs=5
conns=32
rounds=1
rvsd=${CARGO_TARGET_DIR:-$root/target}/release/rvsd
busy=""
out=""
only=",direct,nft,haproxy,nat,fullnat,"
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) secs=$2; shift ;;
	--connections) conns=$2; shift ;;
	--rounds) rounds=$2; shift ;;
	--rvsd) rvsd=$2; shift ;;
	--busy) busy=--busy ;;
	--only) only=",$2,"; shift ;;
	--out) out=$2; shift ;;
	*)
		echo "usage: bash benches/e2e.sh [--seconds S] [--connections C] [--rounds N] [--rvsd PATH] [--busy] [--only LIST] [--out DIR]" >&2
		exit 2
		;;
	esac
	shift
done
[ "$(id -u)" -eq 0 ] || { echo "e2e.sh: needs root" >&2; exit 1; }
for tool in wrk nginx haproxy nft; do
	command -v "$tool" >/dev/null || { echo "e2e.sh: $tool missing (bash benches/install-deps.sh)" >&2; exit 1; }
done
[ -x "$rvsd" ] || { echo "e2e.sh: no rvsd at $rvsd (cargo build --release -p control --bin rvsd)" >&2; exit 1; }

keep_out=1
if [ -z "$out" ]; then
	out=$(mktemp -d /tmp/rvs-bench-e2e.XXXXXX)
	keep_out=0
fi
mkdir -p "$out"
prefix=bench-e2e-$$
director_pid=""
stop_director() {
	[ -n "$director_pid" ] || return 0
	kill -TERM "$director_pid" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$director_pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$director_pid" 2>/dev/null || true
	wait "$director_pid" 2>/dev/null || true
	director_pid=""
}
cleanup() {
	set +e
	stop_director
	topo_down "$prefix"
	[ "$keep_out" = 1 ] || rm -rf -- "$out"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

topo_up "$prefix"
rs_start_http "$prefix"
c=$(topo_ns "$prefix" c)
lb=$(topo_ns "$prefix" lb)
# Many short connections from one client address: reuse TIME_WAIT ports, use them all.
ip netns exec "$c" sh -c 'echo 1 >/proc/sys/net/ipv4/tcp_tw_reuse; echo "1024 65000" >/proc/sys/net/ipv4/ip_local_port_range'
url="http://$TOPO_VIP/"
namespaces="$c $lb $(topo_ns "$prefix" rs1) $(topo_ns "$prefix" rs2)"

want() { [[ $only == *",$1,"* ]]; }
results=$out/results.txt
: >"$results"
# wrk_run LABEL MODE [URL...]: one wrk run per URL (default the VIP twice), at the same
# time, the connections split between them; appends
# "LABEL|MODE|REQ/S|P99_MS|<cpu_snap.py diff fields>|ERRORS" to results.
wrk_run() {
	local label=$1 mode=$2 hdr=() before after cpu i n per rps=0 reqs=0 p99=0 errs="" log
	local v r e p cpu_file pids=()
	shift 2
	local urls=("$@")
	# Two wrk processes in every case (the no-director row needs one per real server): one
	# wrk thread for all connections leaves the machine idle while it waits.
	[ ${#urls[@]} -gt 0 ] || urls=("$url" "$url")
	n=${#urls[@]}
	per=$((conns / n))
	[ "$mode" = keepalive ] || hdr=(-H "Connection: close")
	cpu_file=$out/wrk-cpu-$round-$$.txt
	: >"$cpu_file"
	before=$(python3 "$here/cpu_snap.py" snap $namespaces)
	for i in $(seq 0 $((n - 1))); do
		log=$out/wrk-${label// /_}-$mode-$round-$i.log
		python3 "$here/cpu_snap.py" run "$cpu_file" ip netns exec "$c" \
			wrk -t1 -c"$per" -d"${secs}s" --latency "${hdr[@]}" "${urls[$i]}" >"$log" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}" || true
	after=$(python3 "$here/cpu_snap.py" snap $namespaces)
	for i in $(seq 0 $((n - 1))); do
		log=$out/wrk-${label// /_}-$mode-$round-$i.log
		v=$(awk '/^Requests\/sec:/ {print $2}' "$log")
		r=$(awk '/requests in/ {print $1}' "$log")
		p=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000} print v}' "$log")
		e=$(awk '/Socket errors|Non-2xx/ {$1=$1; printf "%s; ", $0}' "$log")
		rps=$(awk -v a="$rps" -v b="${v:-0}" 'BEGIN {printf "%.2f", a + b}')
		reqs=$((reqs + ${r:-0}))
		p99=$(awk -v a="$p99" -v b="${p:-0}" 'BEGIN {print (b > a ? b : a)}')
		errs+=$e
	done
	cpu=$(python3 "$here/cpu_snap.py" diff "$before" "$after" "$reqs" \
		"$(awk '{s += $1} END {printf "%.6f", s}' "$cpu_file")")
	printf '%s|%s|%s|%s|%s|%s\n' "$label" "$mode" "$rps" "$p99" "$cpu" "${errs:-none}" >>"$results"
	echo "  $label $mode: $rps req/s, p99 $p99 ms, cpu $cpu ${errs}" >&2
}

both_modes() {
	local label=$1
	shift
	local probe=${1:-$url}
	if ! wait_http "$c" "$probe" 20 >/dev/null; then
		printf '%s|%s|0|?|-|-|-|-|-|-|VIP did not answer\n' "$label" keepalive >>"$results"
		printf '%s|%s|0|?|-|-|-|-|-|-|VIP did not answer\n' "$label" close >>"$results"
		return
	fi
	wrk_run "$label" keepalive "$@"
	wrk_run "$label" close "$@"
}

# (a) rvsd on af_xdp, NAT then FULLNAT.
rvs_cfg() { # FILE METHOD
	local pool="" extra=""
	if [ "$2" = fullnat ]; then
		pool=$'snat_pools:\n  - { name: bench, addresses: [198.19.0.250] }'
		extra=", snat_pool: bench"
	fi
	cat >"$1" <<EOF
dataplane:
  worker_lcores: [1]
  polling: adaptive
  eal_args: ["--no-huge", "-m", "512"]
interfaces:
  - { name: wan0, device: "net_af_xdp0,iface=rvs-wan,start_queue=0,queue_count=1", addresses: [198.18.0.254/24], exception_path: false }
  - { name: lan0, device: "net_af_xdp1,iface=rvs-lan,start_queue=0,queue_count=1", addresses: [198.19.0.254/24], exception_path: false }
$pool
services:
  - { proto: tcp, vip: $TOPO_VIP, port: 80, scheduler: rr, method: $2$extra,
      real_servers: [ { address: $TOPO_RS1_ADDR }, { address: $TOPO_RS2_ADDR } ] }
admin:
  listen: 127.0.0.1:9180
EOF
}
cat >"$out/haproxy.cfg" <<EOF
global
    maxconn 8000
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend vip
    bind $TOPO_VIP:80
    default_backend rs
backend rs
    balance roundrobin
    server rs1 $TOPO_RS1_ADDR:80
    server rs2 $TOPO_RS2_ADDR:80
EOF
for round in $(seq 1 "$rounds"); do
	echo "e2e: round $round of $rounds" >&2
	# (0) No director: the director namespace only routes and wrk asks the real servers
	# directly, half the connections each. Not a load balancer: the ceiling of this
	# machine's clients and servers, the most any director could reach here.
	if want direct; then
		echo "e2e: no director (routing only, wrk to the real servers)" >&2
		# From a second client address: the real servers keep TIME_WAIT for these
		# connections, and the client's TCP timestamps towards a real server's own address do
		# not follow on from those towards the VIP, so the directors' runs from 198.18.0.1 to
		# the same server ports would be refused for a minute.
		ip -n "$c" addr add 198.18.0.2/24 dev eth0
		ip -n "$c" route add 198.19.0.0/24 via "$TOPO_WAN_GW" src 198.18.0.2
		ip -n "$lb" addr add "$TOPO_WAN_GW/24" dev rvs-wan
		ip -n "$lb" addr add "$TOPO_LAN_GW/24" dev rvs-lan
		ip netns exec "$lb" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
		both_modes "no director (routing)" "http://$TOPO_RS1_ADDR/" "http://$TOPO_RS2_ADDR/"
		ip netns exec "$lb" sh -c 'echo 0 >/proc/sys/net/ipv4/ip_forward'
		ip -n "$lb" addr flush dev rvs-wan
		ip -n "$lb" addr flush dev rvs-lan
		ip -n "$c" route del 198.19.0.0/24
		ip -n "$c" addr del 198.18.0.2/24 dev eth0
	fi

	# (b) nftables DNAT.
	if want nft; then
		echo "e2e: nftables DNAT (numgen inc)" >&2
		ip netns exec "$lb" bash "$root/tests/e2e/helpers/nft_director.sh" >"$out/nft.log" 2>&1 &
		director_pid=$!
		both_modes "nftables DNAT"
		stop_director
	fi

	# (c) HAProxy, TCP mode, in the director namespace (its kernel terminates both sides).
	if want haproxy; then
		echo "e2e: HAProxy TCP mode" >&2
		ip -n "$lb" addr add 198.18.0.254/24 dev rvs-wan
		ip -n "$lb" addr add "$TOPO_VIP/32" dev rvs-wan
		ip -n "$lb" addr add 198.19.0.254/24 dev rvs-lan
		ip netns exec "$lb" haproxy -W -db -f "$out/haproxy.cfg" >"$out/haproxy.log" 2>&1 &
		director_pid=$!
		both_modes "HAProxy TCP"
		stop_director
		ip -n "$lb" addr flush dev rvs-wan
		ip -n "$lb" addr flush dev rvs-lan
	fi

	for method in masq fullnat; do
		if [ $method = masq ]; then want nat || continue; else want fullnat || continue; fi
		label="rvsd NAT"
		[ "$method" = masq ] || label="rvsd FULLNAT"
		rvs_cfg "$out/rvs-$method.yaml" "$method"
		if ! why=$("$rvsd" --config "$out/rvs-$method.yaml" --check 2>&1); then
			why=$(printf '%s\n' "$why" | grep -v '^\s*$' | tail -n1 | sed 's/^[^ ]*\.yaml: //')
			[ "$round" != 1 ] || printf '%s|keepalive|skip|?|-|-|-|-|-|-|skipped: rvsd does not accept it yet (%s)\n' "$label" "$why" >>"$results"
			continue
		fi
		echo "e2e: $label on af_xdp" >&2
		ip netns exec "$lb" "$rvsd" --config "$out/rvs-$method.yaml" $busy --stats-file "$out/rvs-$method.stats.json" \
			>"$out/rvs-$method.log" 2>&1 &
		director_pid=$!
		both_modes "$label"
		stop_director
	done
done

python3 - "$results" "$secs" "$conns" "${busy:-adaptive}" "$rounds" >"$out/summary.md" <<'PY'
import sys
rows = [l.rstrip("\n").split("|", 10) for l in open(sys.argv[1]) if l.strip()]
secs, conns, polling, rounds = sys.argv[2], sys.argv[3], sys.argv[4].lstrip("-"), int(sys.argv[5])
order, runs, notes = [], {}, {}
for label, mode, r, p99, *cpu, errs in rows:
    if (label, mode) not in runs:
        order.append((label, mode))
        runs[(label, mode)] = []
    if r == "skip":
        notes[(label, mode)] = errs
        continue
    runs[(label, mode)].append((float(r), p99, errs, cpu))


def median_run(key):
    rs = sorted(runs.get(key, []), key=lambda x: x[0])
    return rs[(len(rs) - 1) // 2] if rs else None


def rps(label, mode):
    m = median_run((label, mode))
    return m[0] if m else 0.0


what = f"median of {rounds} interleaved rounds" if rounds > 1 else "one round"
print(f"## End to end (netns, 2 x wrk -t1 -c{int(conns) // 2} -d{secs}s, 2 nginx real servers; "
      f"rvsd on af_xdp, {polling} polling; {what})")
print()
print("| director | mode | requests/s | p99 ms | vs nftables DNAT | vs HAProxy TCP | errors / note |")
print("|---|---|---|---|---|---|---|")
for key in order:
    label, mode = key
    if key in notes:
        print(f"| {label} | | | | | | {notes[key]} |")
        continue
    v, p99, errs, _ = median_run(key)
    nft, hap = rps("nftables DNAT", mode), rps("HAProxy TCP", mode)
    a = f"{v / nft:.2f}" if nft else ""
    b = f"{v / hap:.2f}" if hap else ""
    m = "keep-alive" if mode == "keepalive" else "Connection: close"
    spread = ""
    if len(runs[key]) > 1:
        spread = " (" + " / ".join(f"{x[0]:.0f}" for x in runs[key]) + ")"
    print(f"| {label} | {m} | {v:.0f}{spread} | {p99} | {a} | {b} | {errs} |")

# Where the CPU went in the same (median) runs: the machine's busy share and CPU time per
# request by namespace. The rest of the machine's time is the kernel outside any
# namespace's tasks: softirq (veth, TCP receive, nftables) and idle-loop overheads.
print()
print("CPU per request in the same runs (microseconds; busy and softirq as a share of all CPUs;")
print("nftables DNAT has no director task: its work is softirq):")
print()
print("| director | mode | machine busy % | softirq % | client (wrk) | director | real servers (nginx) | machine |")
print("|---|---|---|---|---|---|---|---|")
for key in order:
    if key in notes:
        continue
    label, mode = key
    m = "keep-alive" if mode == "keepalive" else "Connection: close"
    cpu = median_run(key)[3]
    if len(cpu) == 6 and cpu[0] != "-":
        print(f"| {label} | {m} | " + " | ".join(cpu) + " |")
PY
cat "$out/summary.md"
