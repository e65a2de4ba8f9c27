#!/usr/bin/env bash
# The benchmark suite of issue #10: one command for the dataplane, new-connection,
# memory, per-stage and end-to-end benchmarks. Run as root from anywhere:
#
#   bash benches/run.sh --short     # about 5 minutes
#   bash benches/run.sh --long      # bigger tables, longer windows, ratios (~30 minutes)
#
# Options: --only LIST (comma-separated parts: dataplane,conns,stages,e2e,ratios; default
# all but ratios for --short, all for --long),
# --out DIR (a new or empty directory: logs, traces and the summary go there; default a temporary directory,
# removed unless --keep). The summary (markdown) is printed at the end and written to
# DIR/summary.md. Needs: dpdk-testpmd, valgrind (stages), and for e2e the packages of
# benches/install-deps.sh. Environment: CARGO_TARGET_DIR (where rvsd is built).
#
# What each part does (details in benches/README.md):
# - dataplane: rvsd with one busy-polling worker, a one-armed net_pcap port replaying a
#   trace from memory (infinite_rx=1) and writing to /dev/null; packets from rvsd's own
#   counters (/v1/stats once a second) per on-CPU second of the worker thread, cycles per
#   packet; dpdk-testpmd io and macswap on the same vdev, measured the same way, are the
#   ceiling; rvs/testpmd ratios.
# - conns: a finite SYN flood (one new connection per packet) through rvsd; cycles per
#   SYN and new connections per on-CPU second; rvsd's VmRSS/VmHWM and hugepages with
#   those connections, against a baseline run with one.
# - stages: rvsd under callgrind (the worker loop less its 10 ms timer tick) on the
#   established traces (NAT, FULLNAT, IPv6 NAT) and a SYN flood; instructions per packet
#   grouped into rx / parse / conn lookup / schedule / rewrite / forwarding method /
#   route+neigh / tx / glue (bench.py's rules), and per case: total and rvs's own.
# - figures: stages.svg and ratios.svg (bench.py figures) into DIR/figures and benches/figures.
# - e2e: benches/e2e.sh (wrk through rvsd NAT and FULLNAT on af_xdp, nftables DNAT,
#   HAProxy, and with no director as the machine's ceiling; CPU per request).
# - ratios: the two ratio targets (NAT and FULLNAT established against testpmd io)
#   measured in rounds, testpmd io between every two rvsd runs; the median of the rounds.
#   On a shared VM one run moves with the minute it falls in (0.41-0.54 for one binary).
# - targets: the issue's targets, met or not.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
profile=short
only=""
out=""
keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--short) profile=short ;;
	--long) profile=long ;;
	--only)
		only=$2
		shift
		;;
	--out)
		out=$2
		keep=1
		shift
		;;
	--keep) keep=1 ;;
	*)
		echo "usage: bash benches/run.sh [--short|--long] [--only dataplane,conns,stages,e2e,ratios] [--out DIR] [--keep]" >&2
		exit 2
		;;
	esac
	shift
done
[ "$(id -u)" -eq 0 ] || {
	echo "run.sh: needs root (DPDK, network namespaces)" >&2
	exit 1
}
if [ -z "$only" ]; then
	only=dataplane,conns,stages,e2e
	[ "$profile" = short ] || only=$only,ratios
fi
want() { [[ ",$only," == *",$1,"* ]]; }

if [ "$profile" = short ]; then
	secs=5          # measurement window of each dataplane case
	big_flows=200000 # established flows of the "big table" case
	syn_flows=1000000 # SYNs of the new-connection run: the table and memory at 1 M connections
	cg_secs=60       # at most this long per callgrind run
	cg_est=100000    # packets of the callgrind established run
	cg_syn=60000     # SYNs in the trace of the callgrind SYN run (it stops at a quarter)
	spread_small_rounds=2000 # data rounds over 1024 flows (2 M packets)
	spread_big_rounds=3      # data rounds over syn_flows flows
	syn_mem_max=1000000      # SYN floods up to this size are also replayed from memory (one mbuf per SYN)
	ratio_rounds=5           # rounds of the ratios part (about 3.5 minutes)
else
	secs=20
	big_flows=250000
	syn_flows=10000000
	cg_secs=300
	cg_est=1000000
	cg_syn=500000
	spread_small_rounds=5000
	spread_big_rounds=2
	syn_mem_max=1000000
	ratio_rounds=5
fi
# The connection-table sizes of issue #10. What rvsd can hold is checked below.
table_cases="1000000 10000000"
[ "$profile" = long ] || table_cases="1000000"

if [ -z "$out" ]; then
	out=$(mktemp -d /tmp/rvs-bench.XXXXXX)
else
	# The summary reads what earlier parts left in $out (the e2e results): a directory
	# from an earlier run would mix its results into this one's.
	if [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
		echo "benches/run.sh: --out $out is not empty; give a new or empty directory" >&2
		exit 2
	fi
	mkdir -p "$out"
fi
summary=$out/summary.md
: >"$summary"
bench_py=$here/bench.py
started=$SECONDS
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	[ "$keep" = 1 ] || rm -rf -- "$out"
}
trap cleanup EXIT
say() { printf '%s\n' "$*" | tee -a "$summary"; }
log() { printf '[%3ds] %s\n' "$((SECONDS - started))" "$*" >&2; }

target=${CARGO_TARGET_DIR:-$root/target}
log "building rvsd and rvs-trace (release)"
(cd "$root" && cargo build --release -q -p control --bin rvsd -p benches --bin rvs-trace)
rvsd=$target/release/rvsd
trace=$target/release/rvs-trace

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Connection slots per worker (`dataplane.connections_per_worker`, 1024..=67108864): room
# for the biggest run of the profile (the SYN flood) and the 1 M / 10 M table cases.
conn_slots=$((syn_flows + 65536))

# Hugepages when enough are free (as a production director runs), else anonymous memory.
huge_free_mb() { awk '/HugePages_Free/ {f=$2} /Hugepagesize/ {s=$2} END {print int(f*s/1024)}' /proc/meminfo; }

# MiB of EAL memory for a pool of N mbufs plus room for the rest, on hugepages or not.
# An mbuf takes 2.3 KiB with its headers; a pool must not split one across pages, and
# without hugepages the pages are 4 KiB, so there each mbuf takes a whole page (1.7x).
pool_mb() { echo $(($1 * 5 / 2048 + 256)); }
pool_mb_no_huge() { echo $(($1 * 4 / 1024 + 256)); }
# MiB of memory the kernel could give (MemAvailable).
mem_avail_mb() { awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo; }

# eal_args for a pool of N mbufs: hugepages when enough are free, else anonymous memory.
eal_args_for() {
	local mbufs=$1 mb
	mb=$(pool_mb "$mbufs")
	if [ "$(huge_free_mb)" -gt $((mb + 256)) ] && [ "${RVS_BENCH_NO_HUGE:-}" = "" ]; then
		printf '["-m", "%d"]' "$mb"
	else
		printf '["--no-huge", "-m", "%d"]' "$(pool_mb_no_huge "$mbufs")"
	fi
}

# fits_in_memory MBUFS: whether a pool of MBUFS fits in the free hugepages or, without
# them, in half the memory the kernel has available (the other half for the rest).
fits_in_memory() {
	[ "$(huge_free_mb)" -gt $(($(pool_mb "$1") + 256)) ] ||
		[ $(($(pool_mb_no_huge "$1") * 2)) -lt "$(mem_avail_mb)" ]
}

# Pool size for a trace of N frames replayed from memory: infinite_rx copies the whole
# file into mbufs of the port's pool at start; rvsd needs its bursts on top.
mbufs_for() { echo $(($1 + 16384)); }

# rvs_yaml FILE DEVICE METHOD MBUFS ADMIN_PORT [v6]: one-armed director config.
rvs_yaml() {
	local file=$1 dev=$2 method=$3 mbufs=$4 port=$5 v6=${6:-}
	local pool="" vip=198.18.0.100 rs1=198.18.0.11 rs2=198.18.0.12 addrs="[198.18.0.254/24]" extra=""
	if [ "$method" = fullnat ] || [ "$method" = fullnat-notoa ]; then
		pool=$'snat_pools:\n  - { name: bench, addresses: [198.18.0.250] }'
		extra=", snat_pool: bench"
		# TOA rides on a connection's packets until the real server has answered; the
		# one-armed trace has no answers, so with TOA on every packet would carry it.
		[ "$method" = fullnat ] || extra="$extra, toa: false"
		method=fullnat
	fi
	if [ -n "$v6" ]; then
		vip=2001:2::100 rs1=2001:2::11 rs2=2001:2::12 addrs="[198.18.0.254/24, 2001:2::254/64]"
	fi
	cat >"$file" <<YAML
dataplane:
  worker_lcores: [1]
  polling: busy
  eal_args: $(eal_args_for "$mbufs")
  mbufs: $mbufs
  connections_per_worker: $conn_slots
interfaces:
  - { name: wan0, device: "$dev", addresses: $addrs, exception_path: false }
$pool
services:
  - { proto: tcp, vip: "$vip", port: 80, scheduler: rr, method: $method$extra,
      real_servers: [ { address: "$rs1" }, { address: "$rs2" } ] }
admin:
  listen: 127.0.0.1:$port
YAML
}

# Whether this rvsd accepts a configuration; prints its first error line otherwise.
rvsd_accepts() {
	local msg
	if msg=$("$rvsd" --config "$1" --check 2>&1); then
		return 0
	fi
	printf '%s\n' "$msg" | grep -v '^\s*$' | tail -n 1 | sed 's/^[^ ]*\.yaml: //'
	return 1
}

stats() { curl -s --max-time 2 "http://127.0.0.1:$1/v1/stats"; }

# On-CPU nanoseconds of the DPDK worker thread (rte-worker-1) of PID, from schedstat.
# On a shared machine a busy-polling thread is preempted; packets per on-CPU second is
# what one core of its own would do.
worker_cpu_ns() {
	local t
	for t in /proc/"$1"/task/*; do
		if [ "$(cat "$t/comm" 2>/dev/null)" = rte-worker-1 ]; then
			cut -d' ' -f1 "$t/schedstat"
			return
		fi
	done
	echo 0
}

# measure NAME PCAP METHOD [v6]: rvsd on PCAP (infinite_rx), /v1/stats sampled every second
# for $secs; sets R_MPPS (best second) R_MED (median second) R_CPP (cycles/packet in the
# best second) R_CPP_ALL (over the window) R_TSC R_DROPS.
measure() {
	local name=$1 pcap=$2 method=$3 v6=${4:-} frames port dev cfg pid res i
	frames=$(($(stat -c %s "$pcap") / 70)) # an upper bound on the frame count
	port=$(free_port)
	dev="net_pcap0,rx_pcap=$pcap,infinite_rx=1,tx_pcap=/dev/null"
	cfg=$out/$name.yaml
	rvs_yaml "$cfg" "$dev" "$method" "$(mbufs_for "$frames")" "$port" "$v6"
	"$rvsd" --config "$cfg" --no-garp --busy >"$out/$name.rvsd.log" 2>&1 &
	pid=$!
	pids+=("$pid")
	for i in $(seq 600); do
		stats "$port" >/dev/null 2>&1 && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	sleep 2 # warm-up: the first pass creates the connections
	: >"$out/$name.series"
	for i in $(seq 0 "$secs"); do
		[ "$i" = 0 ] || sleep 1
		stats "$port" >"$out/$name.s$i.json" || true
		echo "$(date +%s.%N) $out/$name.s$i.json $(worker_cpu_ns "$pid")" >>"$out/$name.series"
	done
	# rvsd may have exited already (it could not start): that case is reported as failed.
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" || true
	R_LOG=$out/$name.rvsd.log
	if ! res=$(python3 "$bench_py" rate "$out/$name.series" 2>>"$out/$name.rvsd.log"); then
		log "$name: rvsd did not run; last lines of its log:"
		tail -n 5 "$out/$name.rvsd.log" >&2
		res="0 0 0 0 0 0 0 0 failed"
	fi
	read -r R_MPPS R_MED _ R_CPP_ALL R_TSC R_CPU_MPPS R_CPU_CPP R_CPU_SHARE R_DROPS <<<"$res"
	if [ "$R_TSC" != 0 ]; then tsc_hz=$R_TSC; fi
}

# testpmd_pps PCAP MODE: "BEST MEDIAN CPU_PPS" of dpdk-testpmd MODE on the same one-armed
# vdev: best and median one-second Tx-pps, and TX packets per on-CPU second of its
# forwarding thread over the window (read right after a report, as rvsd's samples are).
testpmd_pps() {
	local pcap=$1 mode=$2 frames log tp mb eal tx0 tx1 c0 c1
	frames=$(($(stat -c %s "$pcap") / 70))
	log=$out/testpmd-$mode-$(basename "$pcap").log
	mb=$(mbufs_for "$frames")
	eal=(-m "$(pool_mb "$mb")" --in-memory)
	[ "$(huge_free_mb)" -gt $(($(pool_mb "$mb") + 256)) ] || eal=(--no-huge -m "$(pool_mb_no_huge "$mb")" --no-shconf --file-prefix "rvsbench$$")
	timeout $((secs + 60)) dpdk-testpmd -l 0-1 --no-pci "${eal[@]}" --log-level=lib.eal:error \
		--vdev="net_pcap0,rx_pcap=$pcap,infinite_rx=1,tx_pcap=/dev/null" -- \
		--total-num-mbufs="$mb" --forward-mode="$mode" --port-topology=loop --auto-start \
		--stats-period 1 </dev/null >"$log" 2>&1 &
	tp=$!
	pids+=("$tp")
	local dpdk=""
	for _ in $(seq 100); do
		dpdk=$(pgrep -P "$tp" | head -n1) && [ -n "$dpdk" ] && break
		sleep 0.05
	done
	# after_report N: wait for testpmd's Nth report; print "TX_PACKETS CPU_NS" right then.
	after_report() {
		local n=$1
		for _ in $(seq 300); do
			[ "$(grep -c 'Tx-pps' "$log" 2>/dev/null)" -ge "$n" ] 2>/dev/null && break
			kill -0 "$tp" 2>/dev/null || break
			sleep 0.05
		done
		echo "$(grep -o 'TX-packets: *[0-9]*' "$log" | tail -n1 | awk '{print $2}') $(worker_cpu_ns "${dpdk:-0}")"
	}
	read -r tx0 c0 < <(after_report 3)
	read -r tx1 c1 < <(after_report $((3 + secs)))
	kill -INT "$tp" 2>/dev/null || true
	wait "$tp" 2>/dev/null || true
	# No on-CPU figure without both samples (0 then: the ratio shows it).
	echo "$(python3 "$bench_py" testpmd "$log") $(python3 -c "c = (${c1:-0} - ${c0:-0}) / 1e9; print(int((${tx1:-0} - ${tx0:-0}) / c) if ${c0:-0} > 0 and c > 0 else 0)")"
}

ratio() { python3 -c "print(f'{float($1) / max(float($2), 1e-9):.2f}')"; }
# Mean of two packet rates, leaving out a run without an on-CPU figure (0).
mean() { python3 -c "v = [x for x in ($1, $2) if x > 0]; print(int(sum(v) / len(v)) if v else 0)"; }
mpps_of() { python3 -c "print(f'{$1 / 1e6:.3f}')"; }

tsc_hz=0
load_at_start=$(cut -d' ' -f1 /proc/loadavg)
say "# rvs benchmark suite ($profile profile)"
say ""
say "- Command: \`bash benches/run.sh --$profile${only:+ --only $only}\`"
say "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
say "- Machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r), DPDK $(pkg-config --modversion libdpdk 2>/dev/null || echo '?'); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
say "- rvsd: one busy-polling worker (lcore 1), \`connections_per_worker: $conn_slots\`, \`exception_path: false\` on the port."
say ""

# --- dataplane --------------------------------------------------------------------------
if want dataplane; then
	# The big-table case replays its whole trace from mbufs (3 frames per flow): on a
	# machine without the memory for that pool, fewer flows, said in the table.
	while [ "$big_flows" -gt 1000 ] && ! fits_in_memory "$(mbufs_for $((big_flows * 3 + 2)))"; do
		big_flows=$((big_flows / 2))
	done
	log "dataplane: generating traces"
	{
		"$trace" "$out/est64.pcap" --kind established --flows 1000 --packets 16
		"$trace" "$out/imix.pcap" --kind established --flows 1000 --packets 16 --size imix
		"$trace" "$out/mix.pcap" --kind mix --flows 1000 --packets 16 --syn-every 9
		"$trace" "$out/big.pcap" --kind established --flows "$big_flows" --packets 3
		"$trace" "$out/est64v6.pcap" --kind established --flows 1000 --packets 16 --ipv6
	} 2>>"$out/trace.log"

	log "dataplane: testpmd ceilings"
	read -r tp_io tp_io_med tp_io_cpu < <(testpmd_pps "$out/est64.pcap" io)
	read -r tp_swap tp_swap_med tp_swap_cpu < <(testpmd_pps "$out/est64.pcap" macswap)
	read -r tp_imix tp_imix_med tp_imix_cpu < <(testpmd_pps "$out/imix.pcap" io)

	say "## Dataplane (one worker, net_pcap infinite_rx one-armed, TX to /dev/null, ${secs} one-second samples per case)"
	say ""
	say "| case | trace | Mpps per on-CPU second | Mpps, best / median wall second | worker on CPU | cycles/packet on CPU (busy-loop TSC) | rvs / testpmd io | rvs / testpmd macswap | drops |"
	say "|---|---|---|---|---|---|---|---|---|"
	say "| dpdk-testpmd io | 1 K flows, 64 B | $(mpps_of "$tp_io_cpu") | $(mpps_of "$tp_io") / $(mpps_of "$tp_io_med") | | | 1.00 | | |"
	say "| dpdk-testpmd macswap | 1 K flows, 64 B | $(mpps_of "$tp_swap_cpu") | $(mpps_of "$tp_swap") / $(mpps_of "$tp_swap_med") | | | | 1.00 | |"
	say "| dpdk-testpmd io | 1 K flows, IMIX | $(mpps_of "$tp_imix_cpu") | $(mpps_of "$tp_imix") / $(mpps_of "$tp_imix_med") | | | 1.00 | | |"
	# row LABEL TRACE CEILING_IO CEILING_SWAP (packets per on-CPU second): the case just
	# measured; its ratio to testpmd io also goes to ratios.tsv (the figure). A case whose
	# rvsd did not run is a "failed" row, and the suite goes on.
	row() {
		local io_r swap_r=""
		if [ "$R_DROPS" = failed ]; then
			say "| $1 | $2 | failed: rvsd did not run (its log: $R_LOG) | | | | | | |"
			printf '%s, %s\tfailed\n' "$1" "$2" >>"$out/ratios.tsv"
			return
		fi
		io_r=$(ratio "$R_CPU_MPPS" "$(mpps_of "$3")")
		[ -z "$4" ] || swap_r=$(ratio "$R_CPU_MPPS" "$(mpps_of "$4")")
		say "| $1 | $2 | $R_CPU_MPPS | $R_MPPS / $R_MED | $R_CPU_SHARE | $R_CPU_CPP ($R_CPP_ALL) | $io_r | $swap_r | $R_DROPS |"
		printf '%s, %s\t%s\n' "${1%% (ratio to*}" "$2" "$io_r" >>"$out/ratios.tsv"
	}
	# The two target rows (NAT, FULLNAT) are bracketed: testpmd io runs again right after
	# each, and their ratio uses the mean of the testpmd runs before and after them, so
	# the machine's drift between minutes weighs on both sides alike.
	# (A run without an on-CPU figure reports 0 and is left out.)
	# bracketed_row LABEL NAME: the row of the case just measured (1 K flows x 16, 64 B)
	# against the mean of the previous testpmd io run and one run now; sets B_RATIO.
	tp_prev_cpu=$tp_io_cpu
	bracketed_row() {
		local tp tp_med tp_cpu ceiling
		log "dataplane: testpmd io again (after $2)"
		read -r tp tp_med tp_cpu < <(testpmd_pps "$out/est64.pcap" io)
		ceiling=$(mean "$tp_prev_cpu" "$tp_cpu")
		row "$1 (ratio to the mean of the testpmd io runs before and after it)" "1 K flows x 16, 64 B" "$ceiling" "$tp_swap_cpu"
		B_RATIO=$(ratio "$R_CPU_MPPS" "$(mpps_of "$ceiling")")
		say "| dpdk-testpmd io, again right after $2 | 1 K flows, 64 B | $(mpps_of "$tp_cpu") | $(mpps_of "$tp") / $(mpps_of "$tp_med") | | | | | |"
		tp_prev_cpu=$tp_cpu
	}
	log "dataplane: NAT established 1 K"
	measure nat-est-1k "$out/est64.pcap" masq
	bracketed_row "NAT established" NAT
	t_nat=$B_RATIO
	log "dataplane: DR established 1 K"
	measure dr-est-1k "$out/est64.pcap" route
	row "DR established" "1 K flows x 16, 64 B" "$tp_io_cpu" "$tp_swap_cpu"
	log "dataplane: NAT established IMIX"
	measure nat-imix "$out/imix.pcap" masq
	row "NAT established" "1 K flows x 16, IMIX" "$tp_imix_cpu" ""
	log "dataplane: NAT mix (10 % SYN)"
	measure nat-mix "$out/mix.pcap" masq
	row "NAT mix, 1 SYN per 9 data (looped: SYNs hit after pass 1)" "1 K flows, 64 B" "$tp_io_cpu" "$tp_swap_cpu"
	log "dataplane: NAT established $big_flows flows"
	measure nat-est-big "$out/big.pcap" masq
	row "NAT established" "$big_flows flows x 3 (SYN, ACK, data), 64 B" "$tp_io_cpu" "$tp_swap_cpu"

	# FULLNAT: measured once rvsd accepts a fullnat service.
	rvs_yaml "$out/fullnat-check.yaml" "net_null0" fullnat 8191 "$(free_port)"
	if why=$(rvsd_accepts "$out/fullnat-check.yaml"); then
		log "dataplane: FULLNAT established 1 K"
		measure fullnat-est-1k "$out/est64.pcap" fullnat-notoa
		bracketed_row "FULLNAT established (toa: false)" FULLNAT
		t_fnat=$B_RATIO
		log "dataplane: FULLNAT established 1 K, TOA on every packet"
		measure fullnat-toa-1k "$out/est64.pcap" fullnat
		row "FULLNAT, TOA inserted in every packet (no answers in the trace)" "1 K flows x 16, 64 B" "$tp_io_cpu" "$tp_swap_cpu"
	else
		say "| FULLNAT established | 1 K flows x 16, 64 B | skipped: rvsd does not accept FULLNAT yet ($why) | | | | | | |"
	fi
	rvs_yaml "$out/v6-check.yaml" "net_null0" masq 8191 "$(free_port)" v6
	if why=$(rvsd_accepts "$out/v6-check.yaml"); then
		log "dataplane: IPv6 NAT established 1 K"
		measure nat6-est-1k "$out/est64v6.pcap" masq v6
		row "IPv6 NAT established" "1 K flows x 16, 78 B" "$tp_io_cpu" "$tp_swap_cpu"
	else
		say "| IPv6 NAT established | 1 K flows x 16, 78 B | IPv6: not supported yet ($why) | | | | | | |"
	fi
	for n in $table_cases; do
		say "| NAT established | $n flows | not replayed here (infinite_rx keeps every frame of the trace in an mbuf: 3 x $n mbufs); measured from a file in the next part (established flows, data phase only) | | | | | | |"
	done
	say ""
	say "Mpps per on-CPU second = packets transmitted / on-CPU time of the worker thread (rte-worker-1, /proc/PID/task/TID/schedstat) over the window: what one core of its own would do, and the figure the ratios use (both sides measured the same way). rvsd's packets come from its own counters (/v1/stats once a second), testpmd's from its reports. Wall-clock Mpps (best and median second) and the worker's share of the CPU show how much a shared machine took away. Cycles/packet on CPU = on-CPU time x TSC / packets received; in parentheses rvsd's own busy_cycles / rx_packets (TSC cycles of loops that received packets, preemption included). TSC: $(python3 -c "print(f'{$tsc_hz / 1e9:.2f}')") GHz (busy cycles over wall time)."
	say ""
fi

# --- new connections and memory ---------------------------------------------------------
# conn_run NAME PCAP CONNS [DATA]: rvsd on a finite PCAP until idle. Samples /v1/stats and
# the worker's on-CPU time while it works through the file, and memory once CONNS
# connections exist. Sets C_RX C_TX C_CONNS C_CPP C_DROPS (final counters; C_CPP =
# busy_cycles/rx), C_CPU_CPP C_CPU_CPS (on-CPU cycles per packet, connections per on-CPU
# second, from the samples inside the processing phase) and M_RSS M_HWM M_HUGE (KiB).
# With DATA (a `spread` trace), sampling goes on after the CONNS connections exist and
# C_CPU_CPP counts only that data phase.
conn_run() {
	local name=$1 pcap=$2 want_conns=$3 data=${4:-} port cfg pid n res mem_done=""
	port=$(free_port)
	cfg=$out/$name.yaml
	rvs_yaml "$cfg" "net_pcap0,rx_pcap=$pcap,tx_pcap=/dev/null" masq 32767 "$port"
	"$rvsd" --config "$cfg" --no-garp --busy --exit-when-idle 6000 --stats-file "$out/$name.stats.json" \
		>"$out/$name.rvsd.log" 2>&1 &
	pid=$!
	pids+=("$pid")
	M_RSS=0 M_HWM=0 M_HUGE=0
	: >"$out/$name.series"
	local i=0
	while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 3000 ]; do
		i=$((i + 1))
		stats "$port" >"$out/$name.p$i.json" 2>/dev/null || { sleep 0.05; continue; }
		echo "$(date +%s.%N) $out/$name.p$i.json $(worker_cpu_ns "$pid")" >>"$out/$name.series"
		n=$(grep -o '"conns_created": *[0-9]*' "$out/$name.p$i.json" | head -n1 | grep -o '[0-9]*$' || echo -1)
		if [ "${n:--1}" -ge "$want_conns" ] && [ -z "$mem_done" ]; then
			[ -n "$data" ] || sleep 0.2
			read -r M_RSS M_HWM M_HUGE < <(python3 "$bench_py" mem "$pid")
			mem_done=1
			[ -n "$data" ] || break
		fi
		sleep 0.02
	done
	wait "$pid" || true
	res=$(python3 "$bench_py" final "$out/$name.stats.json" 2>/dev/null || echo "0 0 0 0 failed")
	read -r C_RX _ C_CONNS C_CPP C_DROPS <<<"$res"
	read -r C_CPU_CPP C_CPU_CPS < <(TSC_HZ=$tsc_hz python3 "$bench_py" during "$out/$name.series" "$C_RX" "${data:+$want_conns}")
}

# syn_mem_run NAME PCAP N: rvsd replaying a SYN flood of N flows from memory (infinite_rx,
# the I/O of the dataplane part and of testpmd, no libpcap reading), /v1/stats and the
# worker's on-CPU time sampled until the first pass has created the N connections; sets
# S_CPP S_CPS (on-CPU cycles per packet and connections per on-CPU second over that pass).
syn_mem_run() {
	local name=$1 pcap=$2 want=$3 port cfg pid i n
	port=$(free_port)
	cfg=$out/$name.yaml
	rvs_yaml "$cfg" "net_pcap0,rx_pcap=$pcap,infinite_rx=1,tx_pcap=/dev/null" masq "$(mbufs_for "$want")" "$port"
	"$rvsd" --config "$cfg" --no-garp --busy >"$out/$name.rvsd.log" 2>&1 &
	pid=$!
	pids+=("$pid")
	: >"$out/$name.series"
	i=0
	while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 6000 ]; do
		i=$((i + 1))
		stats "$port" >"$out/$name.p$i.json" 2>/dev/null || { sleep 0.05; continue; }
		echo "$(date +%s.%N) $out/$name.p$i.json $(worker_cpu_ns "$pid")" >>"$out/$name.series"
		n=$(grep -o '"conns_created": *[0-9]*' "$out/$name.p$i.json" | head -n1 | grep -o '[0-9]*$' || echo 0)
		[ "${n:-0}" -lt "$want" ] || break
		sleep 0.01
	done
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" || true
	read -r S_CPP S_CPS < <(TSC_HZ=$tsc_hz python3 "$bench_py" first_pass "$out/$name.series" "$want")
}

if want conns; then
	say "## New connections and memory (finite pcap read by net_pcap, one worker)"
	say ""
	n=$syn_flows
	{
		"$trace" "$out/syn.pcap" --kind syn --flows "$n"
		"$trace" "$out/est-finite.pcap" --kind established --flows $((n / 16)) --packets 16
		"$trace" "$out/base.pcap" --kind syn --flows 1
	} 2>>"$out/trace.log"
	[ "$tsc_hz" != 0 ] || tsc_hz=$(awk '/cpu MHz/ {print int($4 * 1e6); exit}' /proc/cpuinfo)
	log "conns: baseline"
	conn_run base "$out/base.pcap" 1
	base_rss=$M_RSS base_huge=$M_HUGE
	log "conns: established, finite"
	conn_run est-finite "$out/est-finite.pcap" $((n / 16))
	est_cpp=$C_CPP est_cpu_cpp=$C_CPU_CPP
	log "conns: $n SYNs"
	conn_run syn "$out/syn.pcap" "$n"
	say "| run | packets | connections | cycles/packet on CPU (busy-loop TSC) | new connections/s per on-CPU second | drops |"
	say "|---|---|---|---|---|---|"
	say "| SYN flood, one new connection per packet | $C_RX | $C_CONNS | $C_CPU_CPP ($C_CPP) | $(python3 -c "print(f'{$C_CPU_CPS / 1e6:.3f} M')") | $C_DROPS |"
	say "| established, same file reading (1 SYN + 1 ACK + 14 data per flow) | $((n / 16 * 16)) | $((n / 16)) | $est_cpu_cpp ($est_cpp) | | |"
	if [ "$n" -le "$syn_mem_max" ]; then
		log "conns: $n SYNs from memory (infinite_rx, first pass)"
		syn_mem_run syn-mem "$out/syn.pcap" "$n"
		say "| SYN flood replayed from memory (infinite_rx, as the dataplane part and testpmd; first pass only) | $n | $n | $S_CPP | $(python3 -c "print(f'{${S_CPS:-0} / 1e6:.3f} M')" 2>/dev/null) | |"
		t_mem_cps=${S_CPS:-0}
	fi
	say ""
	say "The worker reads the file through libpcap (net_pcap without infinite_rx: a new connection must be new), so the cycles include that reading; the established run shows its share. New connections per on-CPU second = connections created / on-CPU time of the worker between samples taken while it worked through the file (every loop then has packets). The SYN's extra cost over an established packet: about $(python3 -c "print($C_CPU_CPP - $est_cpu_cpp)" 2>/dev/null || echo '?') cycles on CPU."
	say ""
	say "| memory | VmRSS | VmHWM | hugepages mapped |"
	say "|---|---|---|---|"
	say "| rvsd, 1 connection (baseline) | $((base_rss / 1024)) MiB | | $((base_huge / 1024)) MiB |"
	say "| rvsd, $C_CONNS connections | $((M_RSS / 1024)) MiB | $((M_HWM / 1024)) MiB | $((M_HUGE / 1024)) MiB |"
	per=$(python3 -c "print(f'{($M_RSS - $base_rss) * 1024 / max($C_CONNS - 1, 1):.0f}')")
	t_cps=$C_CPU_CPS t_per=$per t_base=$base_rss
	say "| per connection (RSS growth) | $per B | | |"
	t_hwm=$M_HWM t_conns=$C_CONNS
	say ""
	# Established flows over a large table: a `spread` trace creates every connection, then
	# sends rounds of one data packet per flow in a scattered order, so at n connections
	# every lookup goes to a cold part of the table. The same with 1024 flows (all in the
	# caches) is the reference; only the data phase is counted.
	log "conns: established, 1024 flows spread"
	"$trace" "$out/spread-1k.pcap" --kind spread --flows 1024 --packets $((2 + spread_small_rounds)) 2>>"$out/trace.log"
	conn_run spread-1k "$out/spread-1k.pcap" 1024 data
	s1_rx=$C_RX s1_cpp=$C_CPU_CPP s1_drops=$C_DROPS
	rm -f "$out/spread-1k.pcap"
	log "conns: established, $n flows spread"
	"$trace" "$out/spread-big.pcap" --kind spread --flows "$n" --packets $((2 + spread_big_rounds)) 2>>"$out/trace.log"
	conn_run spread-big "$out/spread-big.pcap" "$n" data
	rm -f "$out/spread-big.pcap"
	say "| established flows, data phase only (file reading as above) | packets (all) | connections | cycles/packet on CPU | drops |"
	say "|---|---|---|---|---|"
	say "| 1024 flows, $spread_small_rounds rounds of one packet per flow | $s1_rx | 1024 | $s1_cpp | $s1_drops |"
	say "| $n flows, $spread_big_rounds rounds of one packet per flow, scattered order | $C_RX | $C_CONNS | $C_CPU_CPP | $C_DROPS |"
	say ""
	say "Each run first creates its connections (SYN, ACK per flow), then sends the data rounds; only samples taken after every connection existed count. The difference, about $(python3 -c "print($C_CPU_CPP - $s1_cpp)" 2>/dev/null || echo '?') cycles per packet, is what a cold table of $n connections adds to an established packet (the conn-table lookup's cache and TLB misses; the worker prefetches each burst's buckets and entries)."
	say ""
fi

# --- per-stage instruction counts (callgrind) ---------------------------------------------
# cg_run NAME ORDER LABEL PCAP PACKETS [CONNS [METHOD [v6]]]: rvsd under callgrind on PCAP
# (infinite_rx) until it has received PACKETS or created CONNS connections (or $cg_secs
# passed); only the worker loop is counted. METHOD as rvs_yaml's (default masq). Prints
# the stage table, writes $out/NAME.stages.json (for the figure) and adds a row to
# $out/stages-totals.md.
cg_run() {
	local name=$1 order=$2 label=$3 pcap=$4 limit=$5 conn_limit=${6:-0} method=${7:-masq} v6=${8:-}
	local frames cfg pid rx port deadline st conns
	frames=$(($(stat -c %s "$pcap") / 70))
	cfg=$out/$name.yaml
	port=$(free_port)
	RVS_BENCH_NO_HUGE=1 rvs_yaml "$cfg" "net_pcap0,rx_pcap=$pcap,infinite_rx=1,tx_pcap=/dev/null" "$method" "$(mbufs_for "$frames")" "$port" "$v6"
	# Counted: the worker loop, less its 10 ms timer tick (Pipeline::tick: neighbour probes,
	# connection expiry, counters). The tick runs per 10 ms of wall time, and valgrind gets
	# through a few dozen packets in 10 ms, fewer when the machine is busy: counted, it made
	# a run's per-packet total move by ~2 % with the machine's load. Without it the counts
	# repeat. The pattern names both `Pipeline<P>::tick` and `<impl ...Pipeline<P>>::tick`
	# (an impl block in another module of the pipeline).
	valgrind --tool=callgrind --fair-sched=yes --callgrind-out-file="$out/$name.callgrind" --collect-atstart=no \
		--toggle-collect='dataplane::worker::Worker::run' --toggle-collect='*Pipeline<*::tick' \
		"$rvsd" --config "$cfg" --no-garp --busy --stats-file "$out/$name.stats.json" \
		>"$out/$name.valgrind.log" 2>&1 &
	pid=$!
	pids+=("$pid")
	# valgrind makes EAL start-up and the pcap load slow: count from the worker's start.
	for _ in $(seq 1200); do
		grep -q "rvsd running" "$out/$name.valgrind.log" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	deadline=$((SECONDS + cg_secs))
	while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$pid" 2>/dev/null; do
		st=$(stats "$port" 2>/dev/null || true)
		read -r rx conns < <(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["ports"][0]["rx_packets"], d["conns_created"])' <<<"$st" 2>/dev/null || echo "0 0")
		[ "${rx:-0}" -lt "$limit" ] || break
		[ "$conn_limit" = 0 ] || [ "${conns:-0}" -lt "$conn_limit" ] || break
		sleep 0.1
	done
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" || true
	rx=$(python3 -c "import json; print(json.load(open('$out/$name.stats.json'))['ports'][0]['rx_packets'])" 2>/dev/null || echo 0)
	if [ "$rx" = 0 ]; then
		say "(callgrind run $name failed: see $out/$name.valgrind.log)"
		echo "| $label | failed | | | |" >>"$out/stages-totals.md"
		return
	fi
	python3 "$bench_py" stages "$out/$name.callgrind" "$rx" --json "$out/$name.stages.json" \
		--case "$label" --order "$order" | tee -a "$summary"
	CG_CONNS=$(python3 -c "import json; print(json.load(open('$out/$name.stats.json'))['conns_created'])")
	CG_RX=$rx
	python3 "$bench_py" stages_row "$out/$name.stages.json" "$CG_CONNS" >>"$out/stages-totals.md"
}

if want stages; then
	# The counted functions must exist as functions (not inlined away, not renamed): a
	# tick inlined into the loop would be counted again and read as a regression.
	syms=$(nm -C "$rvsd" 2>/dev/null || true)
	for f in 'dataplane::worker::Worker::run$' 'Pipeline<.*::tick$'; do
		if [ -n "$syms" ] && ! grep -qE "$f" <<<"$syms"; then
			say "**Warning**: no function matching \`$f\` in rvsd: the stages counts below do not mean what they say (see cg_run in benches/run.sh)."
			say ""
		fi
	done
	if command -v valgrind >/dev/null; then
		[ -e "$out/est64.pcap" ] || "$trace" "$out/est64.pcap" --kind established --flows 1000 --packets 16 2>>"$out/trace.log"
		[ -e "$out/est64v6.pcap" ] || "$trace" "$out/est64v6.pcap" --kind established --flows 1000 --packets 16 --ipv6 2>>"$out/trace.log"
		# Stop well before the SYN trace loops, so that (nearly) every packet counted is a
		# new connection: the run stops at a quarter of the trace's SYNs, and valgrind
		# schedules threads fairly (--fair-sched) so the control thread reports in time
		# (without it the busy worker held valgrind's one running thread: asked to stop
		# at 30000 of 60000 SYNs, the worker had gone past 100000 packets).
		"$trace" "$out/cg-syn.pcap" --kind syn --flows "$cg_syn" 2>>"$out/trace.log"
		: >"$out/stages-totals.md"
		say "## Per-stage cost (callgrind, instructions per packet, rvsd worker loop only)"
		say ""
		say "NAT established, 1 K flows x 16, 64 B:"
		say ""
		log "stages: callgrind, established"
		cg_run cg-est 1 "NAT established" "$out/est64.pcap" "$cg_est"
		say ""
		say "FULLNAT established (toa: false), same trace:"
		say ""
		log "stages: callgrind, FULLNAT established"
		cg_run cg-fnat 2 "FULLNAT established (toa: false)" "$out/est64.pcap" "$cg_est" 0 fullnat-notoa
		say ""
		say "IPv6 NAT established, 1 K flows x 16, 78 B:"
		say ""
		log "stages: callgrind, IPv6 NAT established"
		cg_run cg-est6 3 "IPv6 NAT established" "$out/est64v6.pcap" "$cg_est" 0 masq v6
		say ""
		say "NAT new connections (SYN flood):"
		say ""
		log "stages: callgrind, SYN"
		cg_run cg-syn 4 "NAT SYN (new connections)" "$out/cg-syn.pcap" $((cg_syn / 4)) $((cg_syn / 4))
		say ""
		say "(SYN run: $CG_CONNS connections created from $CG_RX packets.) perf is not usable on this VM (\`perf stat -e cycles\`: not supported), so these are instruction counts, not cycles; the dataplane table's cycles/packet is the measured total. bench.py documents the file-to-stage mapping."
		say ""
		say "Per case (the figure: \`stages.svg\`):"
		say ""
		say "| case | packets | connections created | instructions/packet | rvs's own (less rx and tx) |"
		say "|---|---|---|---|---|"
		tee -a "$summary" <"$out/stages-totals.md"
		say ""
	else
		say "(stages skipped: valgrind not installed; bash benches/install-deps.sh)"
	fi
fi

# --- end to end -----------------------------------------------------------------------------
if want e2e; then
	log "e2e: benches/e2e.sh"
	e2e_args=(--seconds 5 --rounds 1)
	[ "$profile" = short ] || e2e_args=(--seconds 15 --rounds 3)
	if bash "$here/e2e.sh" "${e2e_args[@]}" --rvsd "$rvsd" --out "$out/e2e" >"$out/e2e.log" 2>&1; then
		tee -a "$summary" <"$out/e2e/summary.md"
	else
		say "(e2e failed; last lines of its log:)"
		tail -n 15 "$out/e2e.log" | sed 's/^/    /' | tee -a "$summary"
	fi
	say ""
fi

# --- the ratio targets, repeated ---------------------------------------------------------
if want ratios; then
	[ -e "$out/est64.pcap" ] || "$trace" "$out/est64.pcap" --kind established --flows 1000 --packets 16 2>>"$out/trace.log"
	say "## Ratio targets, repeated ($ratio_rounds rounds, 1 K flows x 16, 64 B; ${secs} s per run)"
	say ""
	say "Each rvsd run against the mean of the testpmd io runs right before and after it (Mpps per on-CPU second, as in the dataplane table)."
	say ""
	say "| round | testpmd io | NAT | NAT / testpmd io | testpmd io | FULLNAT (toa: false) | FULLNAT / testpmd io | testpmd io |"
	say "|---|---|---|---|---|---|---|---|"
	log "ratios: testpmd io"
	read -r _ _ tp_a < <(testpmd_pps "$out/est64.pcap" io)
	nat_rs=() fnat_rs=()
	for r in $(seq "$ratio_rounds"); do
		log "ratios: round $r"
		measure "ratio-nat-$r" "$out/est64.pcap" masq
		nat=$R_CPU_MPPS
		read -r _ _ tp_b < <(testpmd_pps "$out/est64.pcap" io)
		measure "ratio-fnat-$r" "$out/est64.pcap" fullnat-notoa
		fnat=$R_CPU_MPPS
		read -r _ _ tp_c < <(testpmd_pps "$out/est64.pcap" io)
		rn=$(ratio "$nat" "$(mpps_of "$(mean "$tp_a" "$tp_b")")")
		rf=$(ratio "$fnat" "$(mpps_of "$(mean "$tp_b" "$tp_c")")")
		say "| $r | $(mpps_of "$tp_a") | $nat | $rn | $(mpps_of "$tp_b") | $fnat | $rf | $(mpps_of "$tp_c") |"
		nat_rs+=("$rn")
		fnat_rs+=("$rf")
		tp_a=$tp_c
	done
	median() { python3 -c "import statistics, sys; print(f'{statistics.median(float(x) for x in sys.argv[1:]):.2f}')" "$@"; }
	spread() { python3 -c "import sys; v = sorted(float(x) for x in sys.argv[1:]); print(f'{v[0]:.2f}-{v[-1]:.2f}')" "$@"; }
	t_nat_med=$(median "${nat_rs[@]}")
	t_fnat_med=$(median "${fnat_rs[@]}")
	t_nat_spread=$(spread "${nat_rs[@]}")
	t_fnat_spread=$(spread "${fnat_rs[@]}")
	say ""
	say "Median of the rounds: NAT $t_nat_med (range $t_nat_spread), FULLNAT $t_fnat_med (range $t_fnat_spread)."
	printf '%s\t%s\t%s\t%s\n' "NAT established, median of $ratio_rounds bracketed rounds" "$t_nat_med" \
		"${t_nat_spread%-*}" "${t_nat_spread#*-}" >>"$out/ratios.tsv"
	printf '%s\t%s\t%s\t%s\n' "FULLNAT established (toa: false), median of $ratio_rounds rounds" "$t_fnat_med" \
		"${t_fnat_spread%-*}" "${t_fnat_spread#*-}" >>"$out/ratios.tsv"
	say ""
fi

# --- targets of issue #10 --------------------------------------------------------------
say "## Targets (issue #10)"
say ""
say "| target | measured | verdict |"
say "|---|---|---|"
verdict() { python3 -c "print('met' if $1 else 'NOT met')" 2>/dev/null || echo '?'; }
if [ -n "${t_nat:-}" ]; then
	say "| NAT established >= 0.5 x testpmd io per worker core, 64 B | $t_nat x (per on-CPU second) | $(verdict "$t_nat >= 0.5") |"
fi
if [ -n "${t_fnat:-}" ]; then
	say "| FULLNAT established >= 0.5 x testpmd io per worker core, 64 B | $t_fnat x (per on-CPU second; established = the server has answered, so no TOA: measured with toa: false) | $(verdict "$t_fnat >= 0.5") |"
elif [ -z "${t_fnat_med:-}" ]; then
	say "| FULLNAT established >= 0.5 x testpmd io | not measured (see the dataplane table) | — |"
fi
if [ -n "${t_nat_med:-}" ]; then
	say "| NAT established >= 0.5 x testpmd io, median of $ratio_rounds bracketed rounds | $t_nat_med x (range $t_nat_spread) | $(verdict "$t_nat_med >= 0.5") |"
	say "| FULLNAT established (toa: false) >= 0.5 x testpmd io, median of $ratio_rounds bracketed rounds | $t_fnat_med x (range $t_fnat_spread) | $(verdict "$t_fnat_med >= 0.5") |"
fi
if [ -n "${t_cps:-}" ]; then
	say "| new connections >= 2 M/s per worker core | $(python3 -c "print(f'{$t_cps / 1e6:.2f} M/s')") (incl. libpcap file reading) | $(verdict "$t_cps >= 2e6") |"
	if [ -n "${t_mem_cps:-}" ] && [ "$t_mem_cps" != 0 ]; then
		say "| new connections >= 2 M/s per worker core, SYNs replayed from memory (the I/O of the ratio cases) | $(python3 -c "print(f'{$t_mem_cps / 1e6:.2f} M/s')") | $(verdict "$t_mem_cps >= 2e6") |"
	fi
	if [ "${t_conns:-0}" -ge 10000000 ]; then
		say "| 10 M concurrent connections in <= 2 GiB | VmHWM $((t_hwm / 1024)) MiB with $t_conns connections (+ hugepages: the mbuf pool) | $(verdict "$t_hwm <= 2 * 1024 * 1024") |"
	else
		say "| 10 M concurrent connections in <= 2 GiB | measured $t_conns: VmHWM $((t_hwm / 1024)) MiB, $t_per B/connection over the baseline of $((t_base / 1024)) MiB; 10 M by that rate: $(python3 -c "print(f'{(10e6 * $t_per + $t_base * 1024) / 2**30:.2f} GiB')") (the long profile measures 10 M) | extrapolated: $(verdict "(10e6 * $t_per + $t_base * 1024) <= 2 * 2**30") |"
	fi
fi
if [ -f "$out/e2e/results.txt" ]; then
	python3 - "$out/e2e/results.txt" <<'PY' | tee -a "$summary"
import sys
runs = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("|", 4)
    if len(f) == 5 and f[2] not in ("skip", "", "0"):
        runs.setdefault((f[0], f[1]), []).append(float(f[2]))
def med(k):
    v = sorted(runs.get(k, []))
    return v[(len(v) - 1) // 2] if v else 0.0
for mode, name in (("keepalive", "keep-alive"), ("close", "Connection: close")):
    r, n, h = med(("rvsd NAT", mode)), med(("nftables DNAT", mode)), med(("HAProxy TCP", mode))
    d = med(("no director (routing)", mode))
    if r and n and h:
        ok = r >= n and r >= 2 * h
        verdict = "met" if ok else "NOT met"
        ceiling = ""
        if d:
            # No director at all is the most any director can reach on this machine.
            ceiling = f"; no director (routing only): {d / h:.2f} x HAProxy, rvsd NAT at {r / d:.2f} of it"
            if not ok and d < 2 * h:
                verdict += " (2 x HAProxy is above this machine's ceiling)"
        print(f"| e2e ({name}) rvsd NAT >= nftables DNAT and >= 2 x HAProxy TCP | "
              f"{r / n:.2f} x nftables, {r / h:.2f} x HAProxy{ceiling} | {verdict} |")
PY
fi
say ""

# --- figures ----------------------------------------------------------------------------
# bench.py draws what this run measured (plain SVG) into $out/figures; they are copied to
# benches/figures/ (the per-stage one with the committed baseline's bars beside this run's),
# where RESULTS.md shows them. RVS_BENCH_NO_FIGURES=1 leaves benches/figures/ alone.
made=$(python3 "$bench_py" figures "$out" --baseline "$here/figures/stages-baseline.json" \
	--commit "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')" --date "$(date -u '+%Y-%m-%d')" \
	--load "$load_at_start")
if [ -n "$made" ]; then
	if [ "${RVS_BENCH_NO_FIGURES:-}" = "" ]; then
		mkdir -p "$here/figures"
		for f in $made; do cp "$out/figures/$f" "$here/figures/$f"; done
		say "Figures: $(for f in $made; do printf '`benches/figures/%s` ' "$f"; done)(also in $out/figures)."
	else
		say "Figures: $out/figures ($made)."
	fi
	say ""
fi
say "Total time: $((SECONDS - started)) s."
log "summary written to $summary"
