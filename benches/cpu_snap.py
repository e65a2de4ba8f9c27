#!/usr/bin/env python3
"""CPU accounting for benches/e2e.sh.

`cpu_snap.py snap NS...` prints one JSON line: the machine's CPU time by kind from
/proc/stat and, per network namespace, the CPU time of every task (thread) of the
processes in it (from /proc/PID/task/TID/schedstat, nanoseconds on CPU).

`cpu_snap.py run FILE COMMAND...` runs COMMAND and appends the CPU seconds it used
(with its children) to FILE: wrk starts and ends between two snapshots.

`cpu_snap.py diff BEFORE AFTER REQUESTS CLIENT_CPU_S` prints, for the interval between two snapshots,
`busy%|softirq%|us_client|us_director|us_servers|us_machine`: the machine's busy share
(all CPUs), the share of it in softirq, and CPU microseconds per request spent by the
client (CLIENT_CPU_S, measured by `run`, plus tasks left in the client namespace), the director namespace's tasks (rvsd, HAProxy; nftables has
none: it runs in softirq), the real servers' tasks and the whole machine.
"""
import json
import os
import resource
import subprocess
import sys

USER_HZ = os.sysconf("SC_CLK_TCK")


def stat():
    with open("/proc/stat") as f:
        parts = f.readline().split()
    names = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
    vals = [int(x) for x in parts[1 : 1 + len(names)]]
    return dict(zip(names, vals))


def ns_cpu_ns(ns):
    try:
        out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    except OSError:
        return 0
    total = 0
    for pid in out.split():
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total


def snap(namespaces):
    return {"stat": stat(), "ns": {ns: ns_cpu_ns(ns) for ns in namespaces}, "ncpu": os.cpu_count()}


def diff(before, after, requests, client_cpu_s):
    b, a = before["stat"], after["stat"]
    d = {k: a[k] - b[k] for k in a}
    total = sum(d.values()) or 1
    busy = total - d["idle"] - d["iowait"]
    ns = {k: (after["ns"].get(k, 0) - before["ns"].get(k, 0)) / 1e3 for k in after["ns"]}
    req = max(requests, 1)

    def per_req(keys):
        return sum(ns[k] for k in ns if any(k.endswith("-" + s) for s in keys)) / req

    machine_us = busy / USER_HZ * 1e6 / req
    return "%.0f|%.0f|%.1f|%.1f|%.1f|%.1f" % (
        100.0 * busy / total,
        100.0 * d["softirq"] / total,
        per_req(["c"]) + client_cpu_s * 1e6 / req,
        per_req(["lb"]),
        per_req(["rs1", "rs2"]),
        machine_us,
    )


def run(out, argv):
    """Run argv and append the CPU seconds it and its children used to the file `out`
    (wrk starts and ends between two snapshots, so it is measured this way)."""
    rc = subprocess.run(argv).returncode
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "a") as f:
        f.write("%.6f\n" % (r.ru_utime + r.ru_stime))
    return rc


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "run":
        sys.exit(run(sys.argv[2], sys.argv[3:]))
    if len(sys.argv) >= 2 and sys.argv[1] == "snap":
        print(json.dumps(snap(sys.argv[2:])))
    elif len(sys.argv) == 6 and sys.argv[1] == "diff":
        before, after = json.loads(sys.argv[2]), json.loads(sys.argv[3])
        print(diff(before, after, float(sys.argv[4]), float(sys.argv[5])))
    else:
        sys.exit(
            "usage: cpu_snap.py snap NS... | diff BEFORE_JSON AFTER_JSON REQUESTS CLIENT_CPU_S"
            " | run OUT_FILE COMMAND..."
        )


if __name__ == "__main__":
    main()
