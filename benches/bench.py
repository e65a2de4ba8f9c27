#!/usr/bin/env python3
"""Helpers of the benchmark harness (benches/run.sh): counters, memory and the callgrind
per-stage breakdown. Standard library only.

  bench.py rate SERIES                     rvsd /v1/stats samples, one a second ->
                                           "BEST_MPPS MEDIAN_MPPS BEST_CPP CPP TSC_HZ
                                            CPU_MPPS CPU_CPP CPU_SHARE DROPS"
  bench.py during SERIES TOTAL_RX          finite run samples -> "CPU_CPP CONNS_PER_CPU_S"
  bench.py final STATS.json                rvsd --stats-file -> "RX TX CONNS CPP DROPS"
  bench.py mem PID                         "VmRSS VmHWM HUGETLB" in KiB from /proc
  bench.py stages CALLGRIND.OUT PACKETS [TOP] [--json FILE --case NAME]
                                           per-stage instructions per packet (markdown)
  bench.py check_rules                     the stage rules on the old and new dataplane layouts
  bench.py stages_row STAGES.json CONNS     that case's row of the per-case totals table
  bench.py figures OUTDIR [--baseline STAGES.json] [--commit C] [--date D] [--load L]
                                           OUTDIR/figures/{stages,ratios}.svg (plain SVG)
  bench.py testpmd LOG                     "BEST MEDIAN" Tx-pps of testpmd's reports
"""

import json
import os
import re
import sys


# --- stage attribution (callgrind) -------------------------------------------------------
#
# `bench.py stages` charges every instruction of the worker loop to one stage of a
# packet's walk. The release build's line tables attribute inlined code to its own source
# file, so code is grouped by the file it was written in, whatever function it was inlined
# into. The rules below are the whole mapping: the first rule that matches wins.
#
# Today's dataplane layout (issue #19, docs/ARCHITECTURE.md): the packet step is split by
# job in pipeline/{state,dispatch,deliver,kernel,steer,arp,ndp,echo,l4,lookup,new_conn,
# egress,timers,conn_prefetch,verdict}.rs; the shared types in frame.rs, tables.rs and
# family.rs; one forwarding method per module under xmit/ (nat.rs, dr.rs, tun/, fullnat/,
# and the related-ICMP translation in icmp/); route.rs (IPv4 and IPv6), neigh.rs and
# service.rs at the top; the DPDK layer in dpdk/ and the header views in wire/. NAT's and
# DR's steps and the ICMP translation are "pipeline glue", as when they sat in pipeline.rs,
# pipeline6.rs and pipeline/related*.rs; xmit/fullnat/ and xmit/tun/ are "forwarding
# method" (FULLNAT's established rewrite, first-packet ISN and TOA decision and the IPv4
# tunnel stage came there from pipeline.rs and related.rs, so a few instructions moved
# from glue to this stage: benches/README.md). The rules also match the layout before #19
# (pipeline.rs, pipeline6.rs, fullnat.rs, toa.rs, tcp_seq.rs, tunnel*.rs, route6.rs,
# dpdk.rs, ...) because RESULTS.md compares against 94ab7ea, measured with those names.

# Stages in the order of the tables and figures, with what each one holds.
STAGES = [
    ("rx", "PMD receive (net_pcap: ring dequeue, copy into a fresh mbuf), rvs_eth_rx_burst"),
    ("parse", "dataplane/src/wire/* except the rewrite files: Ethernet, IPv4/IPv6, TCP/UDP, "
     "GUE/GRE views and their byte helpers"),
    ("conn lookup", "conn-table/src/*: lookup, state machine, insert, timers"),
    ("schedule", "scheduler/src/* and dataplane/src/service.rs: service lookup and pick"),
    ("rewrite", "dataplane/src/wire/nat.rs, nat6.rs, checksum.rs: NAT rewrite, checksum updates"),
    ("forwarding method", "FULLNAT's and TUN's own code: dataplane/src/xmit/fullnat/*, "
     "xmit/tun/*"),
    ("route+neigh", "dataplane/src/route.rs (IPv4 and IPv6), neigh.rs: next hop and its MAC"),
    ("tx", "rvs_eth_tx_burst and the PMD's transmit (pcap dump, mbuf free)"),
    ("mbuf", "other rvs_pktmbuf_* calls (alloc, free of dropped packets, accessors)"),
    ("pipeline glue", "the rest of dataplane/src (pipeline/*, xmit/{nat,dr}.rs, xmit/icmp/*, "
     "frame.rs, tables.rs, worker.rs, counters.rs, dpdk/*, ...) and std/core code inlined there"),
]

# (regular expression searched in the source file's path, stage): code of the rvsd binary.
# "(^|/)" anchors a crate directory, so a checkout anywhere matches.
FILE_RULES = [
    (r"(^|/)conn-table/src/", "conn lookup"),
    (r"(^|/)scheduler/src/", "schedule"),
    (r"(^|/)dataplane/src/service\.rs$", "schedule"),
    (r"(^|/)dataplane/src/wire/(nat6?|checksum)\.rs$", "rewrite"),
    (r"(^|/)dataplane/src/wire/", "parse"),
    # route6.rs: the IPv6 routes before #19, in route.rs since
    (r"(^|/)dataplane/src/(route6?|neigh)\.rs$", "route+neigh"),
    # before #19: FULLNAT (SNAT ports, TOA, sequence translation) and TUN at the top level,
    # the IPv6 tunnel step in pipeline/tun6.rs
    (r"(^|/)dataplane/src/(fullnat|toa|tcp_seq|tunnel6?)\.rs$", "forwarding method"),
    (r"(^|/)dataplane/src/pipeline/tun6\.rs$", "forwarding method"),
    # today: one module per forwarding method; NAT's, DR's and the ICMP translation's
    # files hold what pipeline.rs / pipeline6.rs / pipeline/related*.rs held
    (r"(^|/)dataplane/src/xmit/(fullnat|tun)/", "forwarding method"),
    (r"(^|/)dataplane/src/", "pipeline glue"),
]

# Library code (std/core, hashbrown, ...: a path under /rustc/ or ~/.cargo/registry/)
# inlined into rvs's functions is charged by the function it was inlined into:
# (regular expression searched in that function's name, hash-table code only, stage).
LIB_PATH = r"/rustc/|/\.cargo/registry/"
HASH_PATH = r"hashbrown|foldhash"
LIB_RULES = [
    (r"conn_table::", False, "conn lookup"),
    # the connection index is a hashbrown table probed from the packet step itself
    (r"handle_ipv[46]|handle_ipv6_l4|handle_l4|established|l4::", True, "conn lookup"),
    (r"scheduler::|service::", False, "schedule"),
    (r"wire::(nat|checksum)", False, "rewrite"),
    (r"wire::", False, "parse"),
    # the neighbour table behind its direct-mapped cache
    (r"forward|neigh|route", True, "route+neigh"),
]

# Functions by name, for calls from the binary into shared objects (DPDK, libpcap, libc:
# their inclusive cost goes to the calling shim or the callee) and for the shims themselves.
FN_RULES = [
    (r"rx_burst|eth_pcap_rx", "rx"),
    (r"tx_burst|eth_pcap_tx|pcap_dump", "tx"),
    (r"rvs_pktmbuf|rte_pktmbuf|mempool", "mbuf"),
]

# rvs's own work: the total less the PMD's receive and transmit, which testpmd pays too.
IO_STAGES = ("rx", "tx")


def drops_delta(a, b):
    return {k: v - a.get(k, 0) for k, v in b.items() if v != a.get(k, 0)}


def fmt_drops(d):
    return ",".join(f"{k}={v}" for k, v in sorted(d.items())) or "none"


def rate(series):
    """SERIES lists "UNIX_TIME STATS.json WORKER_CPU_NS" lines, one /v1/stats sample a
    second. Prints the best and the median one-second Mpps, cycles/packet in the best
    second and over the whole window, the TSC frequency, Mpps per on-CPU second of the
    worker thread, cycles/packet on CPU, the worker's CPU share and the drops."""
    samples, cpu = [], []
    for line in open(series):
        t, path, ns = line.split()
        samples.append((float(t), json.load(open(path))))
        cpu.append(int(ns))
    ivals = []
    for (ta, a), (tb, b) in zip(samples, samples[1:]):
        dt = tb - ta
        tx = b["ports"][0]["tx_packets"] - a["ports"][0]["tx_packets"]
        rx = b["ports"][0]["rx_packets"] - a["ports"][0]["rx_packets"]
        cyc = b["busy_cycles"] - a["busy_cycles"]
        ivals.append((tx / dt / 1e6, cyc / max(rx, 1)))
    (t0, a), (t1, b) = samples[0], samples[-1]
    rx = b["ports"][0]["rx_packets"] - a["ports"][0]["rx_packets"]
    cyc = b["busy_cycles"] - a["busy_cycles"]
    # Every loop of a worker fed by infinite_rx receives packets, so its busy cycles
    # over wall time are the TSC frequency (preemption included: the TSC runs on).
    loops = b["loops"] - a["loops"]
    busy = b["busy_loops"] - a["busy_loops"]
    tsc = cyc / (t1 - t0) if loops and busy / loops > 0.99 else 0
    best = max(ivals)
    median = sorted(v[0] for v in ivals)[(len(ivals) - 1) // 2]
    tx = b["ports"][0]["tx_packets"] - a["ports"][0]["tx_packets"]
    on_cpu = (cpu[-1] - cpu[0]) / 1e9
    cpu_mpps = tx / max(on_cpu, 1e-9) / 1e6
    hz = tsc or float(os.environ.get("TSC_HZ", "0") or 0)
    cpu_cpp = on_cpu * hz / max(rx, 1)
    share = on_cpu / (t1 - t0)
    print(f"{best[0]:.3f} {median:.3f} {best[1]:.0f} {cyc / max(rx, 1):.0f} {tsc:.0f} "
          f"{cpu_mpps:.3f} {cpu_cpp:.0f} {100 * share:.0f}% "
          f"{fmt_drops(drops_delta(a['drops'], b['drops']))}")


def cpu_samples(series):
    """(stats, worker on-CPU ns) of each readable line of SERIES ("UNIX_TIME STATS.json
    WORKER_CPU_NS"); a sample taken as the process ended may lack the CPU time."""
    samples = []
    for line in open(series):
        try:
            t, path, ns = line.split()
            samples.append((json.load(open(path)), int(ns)))
        except (ValueError, OSError):
            continue
    return samples


def print_cpu_rates(series, keep):
    """Over the pairs of consecutive samples that KEEP(a, b) accepts and in which the worker
    ran, print on-CPU cycles per packet and connections created per on-CPU second."""
    samples = cpu_samples(series)
    cpu = rx = conns = 0
    for (a, ca), (b, cb) in zip(samples, samples[1:]):
        if cb > ca and keep(a, b):
            cpu += cb - ca
            rx += b["ports"][0]["rx_packets"] - a["ports"][0]["rx_packets"]
            conns += b["conns_created"] - a["conns_created"]
    hz = float(os.environ.get("TSC_HZ", "0") or 0)
    if not rx or not cpu:
        print("? 0")
        return
    print(f"{cpu / 1e9 * hz / rx:.0f} {conns / (cpu / 1e9):.0f}")


def during(series, total_rx, min_conns=""):
    """Samples (SERIES as for rate) of a finite run: over the pairs taken while the worker
    was still reading the file (0 < rx < TOTAL_RX), print on-CPU cycles per packet and
    connections created per on-CPU second. With MIN_CONNS, only pairs that start with at
    least that many connections created (the data phase of a `spread` trace)."""
    def keep(a, b):
        return (a["ports"][0]["rx_packets"] > 0
                and b["ports"][0]["rx_packets"] < int(total_rx)
                and a["conns_created"] >= int(min_conns or 0))
    print_cpu_rates(series, keep)


def first_pass(series, n):
    """Samples (SERIES as for rate) of a SYN flood replayed from memory: over the pairs in
    which connections were created and the N of the first pass were not all there yet,
    print on-CPU cycles per packet and connections created per on-CPU second."""
    print_cpu_rates(series, lambda a, b: a["conns_created"] > 0 and b["conns_created"] < int(n))


def final(path):
    d = json.load(open(path))
    rx = d["ports"][0]["rx_packets"]
    tx = d["ports"][0]["tx_packets"]
    cpp = d["busy_cycles"] / max(rx, 1)
    print(f"{rx} {tx} {d['conns_created']} {cpp:.0f} "
          f"{fmt_drops({k: v for k, v in d['drops'].items() if v})}")


def mem(pid):
    try:
        st = open(f"/proc/{pid}/status").read()
        smaps = open(f"/proc/{pid}/smaps").read()
    except OSError:  # the process is gone
        print("0 0 0")
        return
    val = {k: int(v) for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", st, re.M)}
    huge = 0
    for k, v in re.findall(r"^(Shared_Hugetlb|Private_Hugetlb):\s+(\d+) kB",
                           smaps, re.M):
        huge += int(v)
    print(f"{val.get('VmRSS', 0)} {val.get('VmHWM', 0)} {huge}")


def testpmd(log):
    """Best and median Tx-pps of testpmd's one-second reports (the first one, partly
    start-up, left out)."""
    pps = [int(x) for x in re.findall(r"Tx-pps:\s+(\d+)", open(log, errors="replace").read())]
    pps = pps[1:] or pps or [0]
    print(max(pps), sorted(pps)[(len(pps) - 1) // 2])


# --- callgrind -------------------------------------------------------------------------


def stage_of_file(path, fn):
    """The stage of code of the rvsd binary from PATH inlined into function FN."""
    p, f = path or "", fn or ""
    if re.search(LIB_PATH, p):
        hashed = bool(re.search(HASH_PATH, p))
        for pat, hash_only, stage in LIB_RULES:
            if (hashed or not hash_only) and re.search(pat, f):
                return stage
        return stage_of_fn(fn) or "pipeline glue"
    for pat, stage in FILE_RULES:
        if re.search(pat, p):
            return stage
    return stage_of_fn(fn) or "pipeline glue"


def stage_of_fn(fn):
    for pat, stage in FN_RULES:
        if re.search(pat, fn or ""):
            return stage
    return None


# Where each file of the dataplane goes in both layouts the rules serve: `bench.py
# check_rules` asserts these, so a change to the rules that would attribute the two trees
# differently shows. "94ab7ea" is the layout before #19 (RESULTS.md's baseline), "now" is
# today's tree: check_rules also asserts that each "now" path exists in this checkout, so
# a later move that leaves this list behind shows too. (Callgrind gives absolute paths;
# check_rules puts each one under /w/, a checkout anywhere.)
RULE_CASES = [
    # 94ab7ea, before #19
    ("94ab7ea", "dataplane/src/pipeline.rs", "pipeline glue"),
    ("94ab7ea", "dataplane/src/pipeline6.rs", "pipeline glue"),
    ("94ab7ea", "dataplane/src/pipeline/related.rs", "pipeline glue"),
    ("94ab7ea", "dataplane/src/pipeline/related6.rs", "pipeline glue"),
    ("94ab7ea", "dataplane/src/pipeline/family.rs", "pipeline glue"),
    ("94ab7ea", "dataplane/src/pipeline/conn_prefetch.rs", "pipeline glue"),
    ("94ab7ea", "dataplane/src/pipeline/tun6.rs", "forwarding method"),
    ("94ab7ea", "dataplane/src/fullnat.rs", "forwarding method"),
    ("94ab7ea", "dataplane/src/toa.rs", "forwarding method"),
    ("94ab7ea", "dataplane/src/tcp_seq.rs", "forwarding method"),
    ("94ab7ea", "dataplane/src/tunnel.rs", "forwarding method"),
    ("94ab7ea", "dataplane/src/tunnel6.rs", "forwarding method"),
    ("94ab7ea", "dataplane/src/route.rs", "route+neigh"),
    ("94ab7ea", "dataplane/src/route6.rs", "route+neigh"),
    ("94ab7ea", "dataplane/src/neigh.rs", "route+neigh"),
    ("94ab7ea", "dataplane/src/service.rs", "schedule"),
    ("94ab7ea", "dataplane/src/dpdk.rs", "pipeline glue"),
    ("94ab7ea", "dataplane/src/worker.rs", "pipeline glue"),
    ("94ab7ea", "dataplane/src/counters.rs", "pipeline glue"),
    ("94ab7ea", "dataplane/src/exception.rs", "pipeline glue"),
    ("94ab7ea", "dataplane/src/wire/mod.rs", "parse"),
    ("94ab7ea", "dataplane/src/wire/ipv6.rs", "parse"),
    ("94ab7ea", "dataplane/src/wire/nat.rs", "rewrite"),
    ("94ab7ea", "dataplane/src/wire/nat6.rs", "rewrite"),
    ("94ab7ea", "dataplane/src/wire/checksum.rs", "rewrite"),
    ("94ab7ea", "scheduler/src/sched.rs", "schedule"),
    ("94ab7ea", "conn-table/src/table.rs", "conn lookup"),
    # now: the packet step, by job
    ("now", "dataplane/src/pipeline/mod.rs", "pipeline glue"),
    ("now", "dataplane/src/pipeline/state.rs", "pipeline glue"),
    ("now", "dataplane/src/pipeline/dispatch.rs", "pipeline glue"),
    ("now", "dataplane/src/pipeline/deliver.rs", "pipeline glue"),
    ("now", "dataplane/src/pipeline/kernel.rs", "pipeline glue"),
    ("now", "dataplane/src/pipeline/steer.rs", "pipeline glue"),
    ("now", "dataplane/src/pipeline/arp.rs", "pipeline glue"),
    ("now", "dataplane/src/pipeline/ndp.rs", "pipeline glue"),
    ("now", "dataplane/src/pipeline/echo.rs", "pipeline glue"),
    ("now", "dataplane/src/pipeline/l4.rs", "pipeline glue"),
    ("now", "dataplane/src/pipeline/lookup.rs", "pipeline glue"),
    ("now", "dataplane/src/pipeline/new_conn.rs", "pipeline glue"),
    ("now", "dataplane/src/pipeline/egress.rs", "pipeline glue"),
    ("now", "dataplane/src/pipeline/timers.rs", "pipeline glue"),
    ("now", "dataplane/src/pipeline/conn_prefetch.rs", "pipeline glue"),
    ("now", "dataplane/src/pipeline/verdict.rs", "pipeline glue"),
    # now: shared types, worker, DPDK layer
    ("now", "dataplane/src/frame.rs", "pipeline glue"),
    ("now", "dataplane/src/tables.rs", "pipeline glue"),
    ("now", "dataplane/src/family.rs", "pipeline glue"),
    ("now", "dataplane/src/counters.rs", "pipeline glue"),
    ("now", "dataplane/src/exception.rs", "pipeline glue"),
    ("now", "dataplane/src/rcu.rs", "pipeline glue"),
    ("now", "dataplane/src/worker.rs", "pipeline glue"),
    ("now", "dataplane/src/dpdk/mod.rs", "pipeline glue"),
    ("now", "dataplane/src/dpdk/burst.rs", "pipeline glue"),
    ("now", "dataplane/src/dpdk/mbuf.rs", "pipeline glue"),
    ("now", "dataplane/src/dpdk/cpu.rs", "pipeline glue"),
    ("now", "dataplane/src/dpdk/queue.rs", "pipeline glue"),
    ("now", "dataplane/src/dpdk/ring.rs", "pipeline glue"),
    # now: forwarding methods (NAT, DR and the ICMP translation stay glue, as before)
    ("now", "dataplane/src/xmit/mod.rs", "pipeline glue"),
    ("now", "dataplane/src/xmit/nat.rs", "pipeline glue"),
    ("now", "dataplane/src/xmit/dr.rs", "pipeline glue"),
    ("now", "dataplane/src/xmit/icmp/mod.rs", "pipeline glue"),
    ("now", "dataplane/src/xmit/icmp/family.rs", "pipeline glue"),
    ("now", "dataplane/src/xmit/icmp/quote.rs", "pipeline glue"),
    ("now", "dataplane/src/xmit/icmp/tunnel_error.rs", "pipeline glue"),
    ("now", "dataplane/src/xmit/tun/mod.rs", "forwarding method"),
    ("now", "dataplane/src/xmit/tun/step.rs", "forwarding method"),
    ("now", "dataplane/src/xmit/tun/encap.rs", "forwarding method"),
    ("now", "dataplane/src/xmit/tun/route.rs", "forwarding method"),
    ("now", "dataplane/src/xmit/tun/too_big.rs", "forwarding method"),
    ("now", "dataplane/src/xmit/fullnat/mod.rs", "forwarding method"),
    ("now", "dataplane/src/xmit/fullnat/snat.rs", "forwarding method"),
    ("now", "dataplane/src/xmit/fullnat/toa.rs", "forwarding method"),
    ("now", "dataplane/src/xmit/fullnat/tcp_seq.rs", "forwarding method"),
    # now: routes, neighbours, services
    ("now", "dataplane/src/route.rs", "route+neigh"),
    ("now", "dataplane/src/neigh.rs", "route+neigh"),
    ("now", "dataplane/src/service.rs", "schedule"),
    # now: header views and the rewrite
    ("now", "dataplane/src/wire/mod.rs", "parse"),
    ("now", "dataplane/src/wire/bytes.rs", "parse"),
    ("now", "dataplane/src/wire/error.rs", "parse"),
    ("now", "dataplane/src/wire/ip_proto.rs", "parse"),
    ("now", "dataplane/src/wire/ethernet.rs", "parse"),
    ("now", "dataplane/src/wire/ipv4.rs", "parse"),
    ("now", "dataplane/src/wire/ipv6.rs", "parse"),
    ("now", "dataplane/src/wire/tcp.rs", "parse"),
    ("now", "dataplane/src/wire/udp.rs", "parse"),
    ("now", "dataplane/src/wire/gue.rs", "parse"),
    ("now", "dataplane/src/wire/gre.rs", "parse"),
    ("now", "dataplane/src/wire/nat.rs", "rewrite"),
    ("now", "dataplane/src/wire/nat6.rs", "rewrite"),
    ("now", "dataplane/src/wire/checksum.rs", "rewrite"),
    # now: the other crates
    ("now", "scheduler/src/sched.rs", "schedule"),
    ("now", "scheduler/src/pick/mod.rs", "schedule"),
    ("now", "scheduler/src/pick/rr.rs", "schedule"),
    ("now", "scheduler/src/pick/weight.rs", "schedule"),
    ("now", "scheduler/src/maglev.rs", "schedule"),
    ("now", "conn-table/src/table.rs", "conn lookup"),
    ("now", "conn-table/src/table/lookup.rs", "conn lookup"),
    ("now", "conn-table/src/table/insert.rs", "conn lookup"),
    ("now", "conn-table/src/table/packet.rs", "conn lookup"),
    ("now", "conn-table/src/index.rs", "conn lookup"),
    ("now", "conn-table/src/tuple.rs", "conn lookup"),
    ("now", "conn-table/src/state.rs", "conn lookup"),
    ("now", "conn-table/src/wheel.rs", "conn lookup"),
]


def check_rules():
    """Assert RULE_CASES (and that every rule names a stage of STAGES, and that each of
    today's paths exists in this checkout)."""
    names = {s for s, _ in STAGES}
    bad = [st for _, st in FILE_RULES + FN_RULES if st not in names]
    bad += [st for _, _, st in LIB_RULES if st not in names]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    missing = [p for layout, p, _ in RULE_CASES
               if layout == "now" and not os.path.exists(os.path.join(root, p))]
    wrong = [(p, want, stage_of_file("/w/" + p, "")) for _, p, want in RULE_CASES
             if stage_of_file("/w/" + p, "") != want]
    for p, want, got in wrong:
        print(f"{p}: {got}, expected {want}", file=sys.stderr)
    for p in missing:
        print(f"{p}: not in this checkout", file=sys.stderr)
    if bad or wrong or missing:
        sys.exit(f"check_rules: {len(wrong)} paths wrong, {len(missing)} missing, "
                 f"unknown stages {bad}")
    print(f"check_rules: {len(RULE_CASES)} paths as expected")


def stages(out, packets, *args):
    """Self cost of code in the rvsd binary by source file, plus the inclusive cost of
    every call from the binary into a shared object (DPDK, libpcap, libc), charged to
    the calling shim function (rvs_eth_rx_burst, ...) or the callee. ARGS: TOP (a number:
    print the TOP biggest (stage, file: function) contributors to stderr), --json FILE
    (the per-packet figures for `figures`), --case NAME and --order N (the case's name and
    place in the figure)."""
    opts, rest = {}, list(args)
    while rest:
        a = rest.pop(0)
        if a in ("--json", "--case", "--order"):
            opts[a[2:]] = rest.pop(0)
        else:
            opts["top"] = a
    names = {"ob": {}, "fl": {}, "fn": {}}
    main_ob = None
    ob = fl = fi = fn = None
    cob = cfn = call_ob = None
    pending_call = False
    totals = {s: 0 for s, _ in STAGES}
    detail = {}
    total = 0

    def add(st, where, ir):
        totals[st] += ir
        detail[(st, where)] = detail.get((st, where), 0) + ir

    def name(kind, rest):
        m = re.match(r"\((\d+)\)(?: (.*))?", rest)
        if not m:
            return rest
        if m.group(2) is not None:
            names[kind][m.group(1)] = m.group(2)
        return names[kind].get(m.group(1), rest)

    for line in open(out, errors="replace"):
        line = line.rstrip("\n")
        if not line:
            continue
        c = line[0]
        if c.isdigit() or c in "+-*":
            parts = line.split()
            ir = int(parts[1]) if len(parts) > 1 else 0
            if pending_call:
                pending_call = False
                if ob == main_ob and call_ob != main_ob:
                    st = stage_of_fn(fn) or stage_of_fn(cfn) or "pipeline glue"
                    add(st, f"{fn} -> {cfn}", ir)
                    total += ir
                continue
            if ob == main_ob:
                add(stage_of_file(fi or fl, fn), f"{fi or fl}: {fn}", ir)
                total += ir
            continue
        key, _, rest = line.partition("=")
        if key == "cmd":
            pass
        elif key == "ob":
            ob = name("ob", rest)
            if main_ob is None and "rvsd" in ob:
                main_ob = ob
        elif key == "fl":
            fl, fi = name("fl", rest), None
        elif key in ("fi", "fe"):
            fi = name("fl", rest)
        elif key == "fn":
            fn, fi = name("fn", rest), None
        elif key == "cob":
            cob = name("ob", rest)
        elif key in ("cfi", "cfl"):
            name("fl", rest)
        elif key == "cfn":
            cfn = name("fn", rest)
        elif key == "calls":
            pending_call = True
            # A call without cob= stays in the caller's object; cob= holds for one call.
            call_ob, cob = cob or ob, None
    n = max(int(packets), 1)
    own = total - sum(totals[s] for s in IO_STAGES)
    print(f"| stage | instructions/packet | share | code |")
    print(f"|---|---|---|---|")
    for s, what in STAGES:
        print(f"| {s} | {totals[s] / n:.0f} | {100 * totals[s] / max(total, 1):.0f} % | {what} |")
    print(f"| **total** | **{total / n:.0f}** | 100 % | {n} packets |")
    print(f"| rvs's own (total less {' and '.join(IO_STAGES)}) | {own / n:.0f} | "
          f"{100 * own / max(total, 1):.0f} % | what testpmd does not do |")
    if opts.get("json"):
        with open(opts["json"], "w") as f:
            json.dump({"case": opts.get("case", ""), "order": int(opts.get("order", 99)),
                       "packets": n,
                       "total": round(total / n, 1), "own": round(own / n, 1),
                       "stages": {s: round(totals[s] / n, 1) for s, _ in STAGES}}, f, indent=1)
    if opts.get("top"):
        # The biggest contributors, to check the mapping (bench.py stages OUT N TOP).
        for (st, where), ir in sorted(detail.items(), key=lambda x: -x[1])[:int(opts["top"])]:
            print(f"{ir / n:8.1f}  {st:17} {where}", file=sys.stderr)

def stages_row(path, conns):
    """The per-case row of the stages summary from a `stages --json` file."""
    d = json.load(open(path))
    print(f"| {d['case']} | {d['packets']} | {conns} | **{d['total']:.0f}** | **{d['own']:.0f}** |")


# --- figures (plain SVG text, no plotting library) ----------------------------------------

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac"]


def esc(t):
    return str(t).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def svg_doc(width, height, body, title):
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif" '
            f'font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n'
            f'<text x="10" y="20" font-size="14" font-weight="bold">{esc(title)}</text>\n'
            + "".join(body) + "</svg>\n")


def axis(body, x0, x1, y0, y1, vmax, step, fmt):
    """Vertical grid lines and their labels from 0 to VMAX every STEP, below the bars."""
    v = 0.0
    while v <= vmax + 1e-9:
        x = x0 + (x1 - x0) * v / vmax
        body.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y1}" stroke="#ddd"/>\n'
                    f'<text x="{x:.1f}" y="{y1 + 14}" text-anchor="middle" fill="#555">'
                    f'{fmt(v)}</text>\n')
        v += step


def nice_step(vmax, ticks=6):
    raw = vmax / ticks
    mag = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 0.1
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def stages_svg(cases, baseline, note):
    """Stacked horizontal bars, one per case (and its baseline's bar above it when given):
    instructions per packet by stage."""
    rows = []
    note = dict(note, load="")  # instruction counts do not depend on the machine's load
    base = {c["case"]: c for c in (baseline or {}).get("cases", [])}
    for c in cases:
        b = base.get(c["case"])
        if b is not None and baseline.get("commit") != note.get("commit"):
            rows.append((f'{c["case"]}, before ({baseline.get("commit", "?")})', b))
            rows.append((f'{c["case"]}, now ({note.get("commit", "?")})', c))
        else:
            rows.append((c["case"], c))
    x0, x1, top, bar, gap = 350, 790, 40, 22, 8
    vmax = max([r["total"] for _, r in rows] + [1])
    step = nice_step(vmax)
    vmax = step * (int(vmax / step) + 1)
    body = []
    y1 = top + len(rows) * (bar + gap)
    axis(body, x0, x1, top - 4, y1, vmax, step, lambda v: f"{v:.0f}")
    for i, (label, r) in enumerate(rows):
        y = top + i * (bar + gap)
        body.append(f'<text x="{x0 - 6}" y="{y + bar / 2 + 4}" text-anchor="end">{esc(label)}</text>\n')
        x = x0
        for k, (st, _) in enumerate(STAGES):
            w = (x1 - x0) * r["stages"].get(st, 0) / vmax
            if w <= 0:
                continue
            body.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}" '
                        f'fill="{PALETTE[k % len(PALETTE)]}"><title>{esc(st)}: '
                        f'{r["stages"].get(st, 0):.0f}</title></rect>\n')
            x += w
        body.append(f'<text x="{x + 4:.1f}" y="{y + bar / 2 + 4}">{r["total"]:.0f} '
                    f'(own {r["own"]:.0f})</text>\n')
    body.append(f'<text x="{(x0 + x1) / 2}" y="{y1 + 30}" text-anchor="middle">instructions '
                f'per packet (callgrind, worker loop; own = total less rx and tx)</text>\n')
    ly = y1 + 48
    for k, (st, _) in enumerate(STAGES):
        lx = 20 + (k % 5) * 170
        yy = ly + (k // 5) * 18
        body.append(f'<rect x="{lx}" y="{yy}" width="12" height="12" '
                    f'fill="{PALETTE[k % len(PALETTE)]}"/>\n'
                    f'<text x="{lx + 17}" y="{yy + 10}">{esc(st)}</text>\n')
    height = ly + 2 * 18 + 10
    title = f"rvsd per-stage instructions per packet — {note_text(note)}"
    return svg_doc(900, height, body, title)


def ratios_svg(rows, note):
    """Horizontal bars of rvs / testpmd io per case, a line at the 0.5 target; a range
    (lo-hi of repeated rounds) drawn as a whisker when given."""
    x0, x1, top, bar, gap = 380, 840, 52, 18, 8
    vmax = max([0.75] + [r[3] for r in rows if r[1] is not None]) * 1.05
    vmax = 0.25 * (int(vmax / 0.25) + 1)
    body = []
    y1 = top + len(rows) * (bar + gap)
    axis(body, x0, x1, top - 4, y1, vmax, 0.25, lambda v: f"{v:.2f}")
    for i, (label, v, lo, hi) in enumerate(rows):
        y = top + i * (bar + gap)
        label = short_label(label, 60)
        if v is None:
            body.append(f'<text x="{x0 - 6}" y="{y + bar / 2 + 4}" text-anchor="end">{esc(label)}</text>\n'
                        f'<text x="{x0 + 4}" y="{y + bar / 2 + 4}" fill="#c00">failed (see the table)</text>\n')
            continue
        w = (x1 - x0) * v / vmax
        color = "#4e79a7"
        body.append(f'<text x="{x0 - 6}" y="{y + bar / 2 + 4}" text-anchor="end">{esc(label)}</text>\n'
                    f'<rect x="{x0}" y="{y}" width="{w:.1f}" height="{bar}" fill="{color}"/>\n')
        if hi > lo:
            xl, xh = x0 + (x1 - x0) * lo / vmax, x0 + (x1 - x0) * hi / vmax
            ym = y + bar / 2
            body.append(f'<line x1="{xl:.1f}" y1="{ym}" x2="{xh:.1f}" y2="{ym}" stroke="black"/>\n'
                        f'<line x1="{xl:.1f}" y1="{y + 3}" x2="{xl:.1f}" y2="{y + bar - 3}" stroke="black"/>\n'
                        f'<line x1="{xh:.1f}" y1="{y + 3}" x2="{xh:.1f}" y2="{y + bar - 3}" stroke="black"/>\n')
        body.append(f'<text x="{x0 + max(w, (x1 - x0) * hi / vmax) + 4:.1f}" y="{y + bar / 2 + 4}">'
                    f'{v:.2f}</text>\n')
    xt = x0 + (x1 - x0) * 0.5 / vmax
    body.append(f'<line x1="{xt:.1f}" y1="{top - 8}" x2="{xt:.1f}" y2="{y1}" stroke="#c00" '
                f'stroke-dasharray="4 3"/>\n<text x="{xt + 3:.1f}" y="{top - 10}" fill="#c00">'
                f'0.5: the NAT and FULLNAT target</text>\n')
    body.append(f'<text x="{(x0 + x1) / 2}" y="{y1 + 30}" text-anchor="middle">rvs / dpdk-testpmd io, '
                f'packets per on-CPU second of the worker (whisker: range of the rounds)</text>\n')
    title = f"rvsd dataplane, one worker, ratio to testpmd io — {note_text(note)}"
    return svg_doc(900, y1 + 44, body, title)


def short_label(label, n):
    """LABEL without its longer parenthesised remarks, cut to N characters."""
    t = re.sub(r" \([^)]{13,}\)", "", label)  # keeps short ones: "(toa: false)"
    return t if len(t) <= n else t[:n - 1] + "…"


def note_text(note):
    return ", ".join(x for x in (note.get("commit", ""), note.get("date", ""),
                                 note.get("load", "") and f"load {note['load']}") if x)


def figures(outdir, *args):
    """Figures of a run.sh --out directory, written to OUTDIR/figures/: stages.svg from the
    *.stages.json files of the stages part (with --baseline FILE, a stages.json of an
    earlier run, its bars too), ratios.svg from ratios.tsv ("CASE<TAB>RATIO[<TAB>LO<TAB>HI]"
    lines of the dataplane and ratios parts); stages.json, the figures' data. --commit C,
    --date D and --load L (the load average at the start) label them."""
    opts, rest = {}, list(args)
    while rest:
        k = rest.pop(0).lstrip("-")
        opts[k] = rest.pop(0)
    note = {"commit": opts.get("commit", ""), "date": opts.get("date", ""),
            "load": opts.get("load", "")}
    fig = os.path.join(outdir, "figures")
    os.makedirs(fig, exist_ok=True)
    cases = []
    for name in sorted(os.listdir(outdir)):
        if name.endswith(".stages.json"):
            c = json.load(open(os.path.join(outdir, name)))
            cases.append((c.pop("order", 99), c))
    cases = [c for _, c in sorted(cases, key=lambda x: x[0])]
    made = []
    if cases:
        baseline = None
        if opts.get("baseline") and os.path.exists(opts["baseline"]):
            baseline = json.load(open(opts["baseline"]))
        with open(os.path.join(fig, "stages.json"), "w") as f:
            json.dump(dict(note, cases=cases), f, indent=1)
        with open(os.path.join(fig, "stages.svg"), "w") as f:
            f.write(stages_svg(cases, baseline, note))
        made += ["stages.json", "stages.svg"]
    tsv = os.path.join(outdir, "ratios.tsv")
    if os.path.exists(tsv):
        rows = []
        for line in open(tsv):
            f = line.rstrip("\n").split("\t")
            if len(f) < 2:
                continue
            try:
                v = float(f[1])
            except ValueError:
                rows.append((f[0], None, 0, 0))  # a case that failed: said so, no bar
                continue
            lo = float(f[2]) if len(f) > 3 else v
            hi = float(f[3]) if len(f) > 3 else v
            rows.append((f[0], v, lo, hi))
        if rows:
            with open(os.path.join(fig, "ratios.svg"), "w") as f:
                f.write(ratios_svg(rows, note))
            made.append("ratios.svg")
    print(" ".join(made))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"rate": rate, "during": during, "first_pass": first_pass, "final": final, "mem": mem, "stages": stages, "testpmd": testpmd,
     "figures": figures, "stages_row": stages_row,
     "check_rules": check_rules}[cmd](*args)


if __name__ == "__main__":
    main()
