#!/usr/bin/env python3
"""Helpers of the benchmark harness (benches/run.sh): counters, memory and the callgrind
per-stage breakdown. Standard library only.

  bench.py rate SERIES                     rvsd /v1/stats samples, one a second ->
                                           "BEST_MPPS MEDIAN_MPPS BEST_CPP CPP TSC_HZ
                                            CPU_MPPS CPU_CPP CPU_SHARE DROPS"
  bench.py during SERIES TOTAL_RX          finite run samples -> "CPU_CPP CONNS_PER_CPU_S"
  bench.py final STATS.json                rvsd --stats-file -> "RX TX CONNS CPP DROPS"
  bench.py mem PID                         "VmRSS VmHWM HUGETLB" in KiB from /proc
  bench.py stages CALLGRIND.OUT PACKETS    per-stage instructions per packet (markdown)
  bench.py testpmd LOG                     "BEST MEDIAN" Tx-pps of testpmd's reports
"""

import json
import os
import re
import sys


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
#
# Stages of one packet, by where the code lives (the release build's line tables
# attribute inlined code to its own source file, so grouping by file survives inlining):
STAGES = [
    ("rx", "PMD receive (net_pcap: ring dequeue, copy into a fresh mbuf), rvs_eth_rx_burst"),
    ("parse", "dataplane/src/wire/* except nat.rs/checksum.rs: Ethernet, IPv4, TCP/UDP views"),
    ("conn lookup", "conn-table/src/*: lookup, state machine, insert, timers"),
    ("schedule", "scheduler/src/* and dataplane/src/service.rs: service lookup and pick"),
    ("rewrite", "dataplane/src/wire/nat.rs, wire/checksum.rs: NAT rewrite, checksum updates"),
    ("route+neigh", "dataplane/src/route.rs, neigh.rs: next hop and its MAC"),
    ("tx", "rvs_eth_tx_burst and the PMD's transmit (pcap dump, mbuf free)"),
    ("mbuf", "other rvs_pktmbuf_* calls (alloc, free of dropped packets, accessors)"),
    ("pipeline glue", "dataplane/src/pipeline.rs, worker.rs, counters.rs, dpdk.rs, and std/core "
     "code inlined there (std/core/hashbrown code inlined into another stage counts there)"),
]


def stage_of_file(path, fn):
    p = path or ""
    if "/conn-table/src/" in p:
        return "conn lookup"
    if "/scheduler/src/" in p or p.endswith("dataplane/src/service.rs"):
        return "schedule"
    if p.endswith("wire/nat.rs") or p.endswith("wire/checksum.rs"):
        return "rewrite"
    if "dataplane/src/wire/" in p:
        return "parse"
    if p.endswith("dataplane/src/route.rs") or p.endswith("dataplane/src/neigh.rs"):
        return "route+neigh"
    if "/rustc/" in p or "/.cargo/registry/" in p:
        # std/core/hashbrown code inlined somewhere: charge it to the function it is in.
        f = fn or ""
        hashed = "hashbrown" in p or "foldhash" in p
        if "conn_table::" in f or (hashed and "handle_ipv4" in f):
            return "conn lookup"  # the connection index is a hashbrown table
        if "scheduler::" in f or "service::" in f:
            return "schedule"
        if "wire::nat" in f or "wire::checksum" in f:
            return "rewrite"
        if "wire::" in f:
            return "parse"
        if hashed and ("forward" in f or "neigh" in f or "route" in f):
            return "route+neigh"  # the neighbour table
    return stage_of_fn(fn) or "pipeline glue"


def stage_of_fn(fn):
    f = fn or ""
    if "rx_burst" in f or "eth_pcap_rx" in f:
        return "rx"
    if "tx_burst" in f or "eth_pcap_tx" in f or "pcap_dump" in f:
        return "tx"
    if "rvs_pktmbuf" in f or "rte_pktmbuf" in f or "mempool" in f:
        return "mbuf"
    return None


def stages(out, packets, _top=None):
    """Self cost of code in the rvsd binary by source file, plus the inclusive cost of
    every call from the binary into a shared object (DPDK, libpcap, libc), charged to
    the calling shim function (rvs_eth_rx_burst, ...) or the callee."""
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
    print(f"| stage | instructions/packet | share | code |")
    print(f"|---|---|---|---|")
    for s, what in STAGES:
        print(f"| {s} | {totals[s] / n:.0f} | {100 * totals[s] / max(total, 1):.0f} % | {what} |")
    print(f"| **total** | **{total / n:.0f}** | 100 % | {n} packets |")
    if len(sys.argv) > 4:
        # The biggest contributors, to check the mapping (bench.py stages OUT N top).
        for (st, where), ir in sorted(detail.items(), key=lambda x: -x[1])[:int(sys.argv[4])]:
            print(f"{ir / n:8.1f}  {st:14} {where}", file=sys.stderr)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"rate": rate, "during": during, "first_pass": first_pass, "final": final, "mem": mem, "stages": stages, "testpmd": testpmd}[cmd](*args)


if __name__ == "__main__":
    main()
