#!/usr/bin/env python3
"""Writes the golden listings for the `lab` fixture of ../tests.rs.

An independent transcription of ipvsadm 1.31's printf formats
(print_title, print_service_entry, print_largenum, list_conn/print_conn,
list_timeout, the FMT_RULE branch), so the goldens do not come from the Rust
code under test. Python's %-Ns/%Nd behave as C's printf here.
The seed_*.txt goldens are real ipvsadm output from the LVS tutorials, with
addresses moved to 198.18.0.0/15 and the address column re-padded.
Run from this directory: python3 gen_goldens.py
"""
import os


# fixture: (kind, proto, addr, port | mark, af, sched, flags(list), persist(timeout, mask) | None,
#           ops, stats(5), rates(5), dests)
# dest: (addr, port, fwd, tuninfo | None, weight, u, l, active, inactive, persist, stats, rates)
def v6(a): return "[%s]" % a

SERVICES = [
    dict(fwmark=0, af=4, proto="TCP", addr="198.18.0.100", port=80, sched="wrr", flags="",
         persist=None, ops=False,
         stats=(123456789, 2345678901, 99, 123456789012345, 999999999999999),
         rates=(12, 345, 0, 150000000, 7),
         dests=[
             ("198.19.0.12", 8080, "Masq", None, 2, 100, 50, 3, 15, 1,
              (100, 2000, 1999, 300000, 123456789), (1, 20, 19, 3000, 2500)),
             ("198.19.0.11", 8080, "Masq", None, 6, 0, 0, 10, 200, 2,
              (5, 6, 7, 8, 9), (0, 0, 0, 100000000, 99999999)),
         ]),
    dict(fwmark=0, af=4, proto="UDP", addr="198.18.0.53", port=53, sched="rr", flags="",
         persist=None, ops=True, stats=(0,) * 5, rates=(0,) * 5,
         dests=[("198.19.0.21", 53, "FullNat", None, 1, 0, 0, 0, 7, 0, (0,) * 5, (0,) * 5)]),
    dict(fwmark=10, af=4, sched="sh", flags="sh-fallback,sh-port", persist=(360, "255.255.255.0"),
         ops=False, stats=(1, 2, 3, 4, 5), rates=(0,) * 5,
         dests=[
             ("198.19.0.33", 0, "Tunnel", "ipip", 1, 0, 0, 0, 0, 0, (0,) * 5, (0,) * 5),
             ("198.19.0.31", 0, "Tunnel", "gue:6080:+c", 3, 0, 0, 1, 2, 3, (0,) * 5, (0,) * 5),
             ("198.19.0.32", 0, "Tunnel", "gre:-c", 4, 0, 0, 0, 1, 0, (0,) * 5, (0,) * 5),
         ]),
    dict(fwmark=0, af=6, proto="TCP", addr="2001:2::100", port=443, sched="wlc", flags="",
         persist=(300, "64"), ops=False, stats=(0,) * 5, rates=(0,) * 5,
         dests=[("2001:2::11", 443, "Route", None, 0, 0, 0, 4, 5, 6, (0,) * 5, (0,) * 5)]),
    dict(fwmark=0, af=4, proto="TCP", addr="198.18.0.100", port=0, sched="rr", flags="",
         persist=(900, None), ops=False, stats=(0,) * 5, rates=(0,) * 5,
         dests=[("198.19.0.41", 0, "Route", None, 1, 0, 0, 0, 0, 0, (0,) * 5, (0,) * 5)]),
    dict(fwmark=11, af=6, sched="rr", flags="", persist=None, ops=False,
         stats=(0,) * 5, rates=(0,) * 5,
         dests=[("2001:2::21", 0, "Masq", None, 1, 0, 0, 0, 0, 0, (0,) * 5, (0,) * 5)]),
    dict(fwmark=0, af=4, proto="SCTP", addr="198.18.0.7", port=9999, sched="rr", flags="flag-1,flag-3",
         persist=None, ops=False, stats=(0,) * 5, rates=(0,) * 5, dests=[]),
]

PROTO_NUM = {"TCP": 6, "UDP": 17, "SCTP": 132}


def ip_key(a):
    import ipaddress
    return int(ipaddress.ip_address(a))


def svc_key(s):
    return (s["fwmark"], s["af"], PROTO_NUM.get(s.get("proto"), 6), ip_key(s.get("addr", "0.0.0.0")), s.get("port", 0))


def addrport(af, a, p):
    return ("%s:%u" % (a, p)) if af == 4 else ("[%s]:%u" % (a, p))


def largenum(i, exact):
    if exact:
        l = len("%u" % i)
        return "%*u" % (9 if l <= 8 else l + 1, i)
    if i < 100000000:
        return "%9u" % i
    if i < 1000000000:
        return "%8uK" % (i // 1000)
    if i < 100000000000:
        return "%8uM" % (i // 1000000)
    if i < 100000000000000:
        return "%8uG" % (i // 1000000000)
    return "%8uT" % (i // 1000000000000)


def title(fmt):
    if "stats" in fmt:
        return "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n" % (
            "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
    if "rate" in fmt:
        return "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n" % (
            "Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
    if "thresholds" in fmt:
        return "%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n" % (
            "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn")
    if "persistent-conn" in fmt:
        return "%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n" % (
            "Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn")
    if "tun-info" in fmt:
        return ("Prot LocalAddress:Port Scheduler Flags\n"
                "  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n")
    return ("Prot LocalAddress:Port Scheduler Flags\n"
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")


def entry(s, fmt):
    exact = "exact" in fmt
    if s["fwmark"]:
        name = "FWM  %d" % s["fwmark"] + (" IPv6" if s["af"] == 6 else "")
    else:
        name = "%-4s %s" % (s["proto"], addrport(s["af"], s["addr"], s["port"]))
        if s["af"] != 6:
            name = name[:33]
    out = ""
    if "stats" in fmt:
        out += "%-33s" % name + "".join(largenum(x, exact) for x in s["stats"])
    elif "rate" in fmt:
        out += "%-33s" % name + "".join(largenum(x, exact) for x in s["rates"])
    else:
        out += "%s %s" % (name, s["sched"])
        if s["flags"]:
            out += " (%s)" % s["flags"]
        if s["persist"]:
            out += " persistent %u" % s["persist"][0]
            if s["persist"][1]:
                out += " mask %s" % s["persist"][1]
        if s["ops"]:
            out += " ops"
    out += "\n"
    dests = s["dests"] if "nosort" in fmt else sorted(s["dests"], key=lambda d: (ip_key(d[0]), d[1]))
    for (a, p, fwd, ti, w, u, l, act, inact, pers, st, rt) in dests:
        daf = 6 if ":" in a else 4
        dname = addrport(daf, a, p)
        if daf != 6:
            dname = dname[:28]
        if "stats" in fmt:
            out += "  -> %-28s" % dname + "".join(largenum(x, exact) for x in st) + "\n"
        elif "rate" in fmt:
            out += "  -> %-28s %8u %8u %8u" % (dname, rt[0], rt[1], rt[2]) + largenum(rt[3], exact) + largenum(rt[4], exact) + "\n"
        elif "thresholds" in fmt:
            out += "  -> %-28s %-10u %-10u %-10u %-10u\n" % (dname, u, l, act, inact)
        elif "persistent-conn" in fmt:
            out += "  -> %-28s %-9u %-11u %-10u %-10u\n" % (dname, w, pers, act, inact)
        elif "tun-info" in fmt:
            out += "  -> %-28s %-7s %-13s %-6d %-10u %-10u\n" % (dname, fwd, ti or "n/a", w, act, inact)
        else:
            out += "  -> %-28s %-7s %-6d %-10u %-10u\n" % (dname, fwd, w, act, inact)
    return out


def list_all(fmt):
    out = "IP Virtual Server version 1.2.1 (size=4096)\n" + title(fmt)
    svcs = SERVICES if "nosort" in fmt else sorted(SERVICES, key=svc_key)
    for s in svcs:
        out += entry(s, fmt)
    return out


def rules():
    switch = {"Masq": "-m", "Route": "-g", "Tunnel": "-i", "FullNat": "--fullnat"}
    out = ""
    for s in sorted(SERVICES, key=svc_key):
        if s["fwmark"]:
            svc = "-f %d" % s["fwmark"] + (" -6" if s["af"] == 6 else "")
        else:
            opt = {"TCP": "-t", "UDP": "-u", "SCTP": "--sctp-service"}[s["proto"]]
            svc = "%s %s" % (opt, addrport(s["af"], s["addr"], s["port"]))
        out += "-A %s -s %s" % (svc, s["sched"])
        if s["persist"]:
            out += " -p %u" % s["persist"][0]
            if s["persist"][1]:
                out += " -M %s" % s["persist"][1]
        if s["ops"]:
            out += " -o"
        if s["flags"]:
            out += " -b %s" % s["flags"]
        out += "\n"
        for (a, p, fwd, ti, w, u, l, *_rest) in sorted(s["dests"], key=lambda d: (ip_key(d[0]), d[1])):
            daf = 6 if ":" in a else 4
            line = "-a %s -r %s %s -w %d" % (svc, addrport(daf, a, p), switch[fwd], w)
            if fwd == "Tunnel":
                parts = ti.split(":")
                line += " --tun-type %s" % parts[0]
                csum = {"-c": "--tun-nocsum", "+c": "--tun-csum", "r+c": "--tun-remcsum"}
                if parts[0] == "gue":
                    line += " --tun-port %s %s" % (parts[1], csum[parts[2]])
                elif parts[0] == "gre":
                    line += " %s" % csum[parts[1]]
            if u or l:  # rvs extension: ipvsadm 1.31 drops thresholds
                line += " -x %u -y %u" % (u, l)
            out += line + "\n"
    return out


CONNS = [
    ("TCP", 899, "ESTABLISHED", ("198.18.0.1", 40000), ("198.18.0.100", 80), ("198.19.0.11", 8080), None),
    ("TCP", 65, "FIN_WAIT", ("198.18.0.2", 40001), ("198.18.0.100", 80), ("198.19.0.12", 8080), None),
    ("UDP", 299, "UDP", ("198.18.0.3", 5353), ("198.18.0.53", 53), ("198.19.0.21", 53), None),
    ("IP", 6000, "NONE", ("198.18.0.0", 0), ("0.0.0.10", 0), ("198.19.0.31", 0), None),
    ("TCP", 7, "SYN_RECV", ("2001:2::1", 50000), ("2001:2::100", 443), ("2001:2::11", 443), None),
    ("UDP", 100, "UDP", ("198.18.0.9", 5060), ("198.18.0.60", 5060), ("198.19.0.60", 5060), ("sip", "call-1@198.18.0.9")),
]


def conns(pc):
    out = "IPVS connection entries\n"
    if pc:
        out += "pro expire %-11s %-18s %-18s %-18s %-16s %s\n" % ("state", "source", "virtual", "destination", "pe name", "pe_data")
    else:
        out += "pro expire %-11s %-18s %-18s %s\n" % ("state", "source", "virtual", "destination")
    for (proto, exp, state, c, v, d, pe) in CONNS:
        def ap(x):
            return addrport(6 if ":" in x[0] else 4, x[0], x[1])
        e = "%02d:%02d" % (exp // 60, exp % 60)
        if pc and pe:
            out += "%-3s %-6s %-11s %-18s %-18s %-16s %-18s %s\n" % (proto, e, state, ap(c), ap(v), ap(d), pe[0], pe[1])
        else:
            out += "%-3s %-6s %-11s %-18s %-18s %s\n" % (proto, e, state, ap(c), ap(v), ap(d))
    return out


FILES = {
    "lab_Ln.txt": list_all(set()),
    "lab_Ln_stats.txt": list_all({"stats"}),
    "lab_Ln_stats_exact.txt": list_all({"stats", "exact"}),
    "lab_Ln_rate.txt": list_all({"rate"}),
    "lab_Ln_rate_exact.txt": list_all({"rate", "exact"}),
    "lab_Ln_thresholds.txt": list_all({"thresholds"}),
    "lab_Ln_persistent_conn.txt": list_all({"persistent-conn"}),
    "lab_Ln_tun_info.txt": list_all({"tun-info"}),
    "lab_Ln_nosort.txt": list_all({"nosort"}),
    "lab_Sn.txt": rules(),
    "lab_Lnc.txt": conns(False),
    "lab_Lnc_persistent_conn.txt": conns(True),
    "lab_Ln_service.txt": title(set()) + entry(SERVICES[0], set()),
}

if __name__ == "__main__":
    for name, text in FILES.items():
        with open(name, "w") as f:
            f.write(text)


# --- real ipvsadm output quoted in public LVS tutorials ---
# SEEDS: a folder holding those tutorials as text (not part of the repository); the
# goldens cut from them below are committed, so this part only reruns where they are.
SEEDS = os.environ.get("RVS_LVS_TUTORIALS", "seeds/")
SEED_CUTS = [
    # (golden, seed file, first line, last line (1-based, inclusive), address map)
    ("seed_000_dr_Ln.txt", "000_4bc9b8c79e9103eb.txt", 617, 622,
     {"192.168.246.160": "198.18.0.160", "192.168.246.161": "198.19.0.161", "192.168.246.162": "198.19.0.162"}),
    ("seed_000_nat_Ln.txt", "000_4bc9b8c79e9103eb.txt", 802, 807,
     {"192.168.50.128": "198.18.50.128", "192.168.246.161": "198.19.246.161", "192.168.246.162": "198.19.246.162"}),
    ("seed_003_masq_Ln.txt", "003_333bcf3b3bfe3224.txt", 214, 219,
     {"192.168.0.111": "198.18.0.111", "192.168.137.130": "198.19.137.130", "192.168.137.131": "198.19.137.131"}),
    ("seed_003_sh_Ln.txt", "003_333bcf3b3bfe3224.txt", 191, 195,
     {"192.168.0.111": "198.18.0.111", "192.168.137.131": "198.19.137.131"}),
    ("seed_003_two_services_Ln.txt", "003_333bcf3b3bfe3224.txt", 519, 527,
     {"10.0.0.100": "198.18.0.100", "192.168.137.130": "198.19.137.130", "192.168.137.131": "198.19.137.131"}),
    ("seed_003_fwm_persistent_Ln.txt", "003_333bcf3b3bfe3224.txt", 563, 568,
     {"192.168.137.130": "198.19.137.130", "192.168.137.131": "198.19.137.131"}),
    ("seed_003_Sn.txt", "003_333bcf3b3bfe3224.txt", 228, 230,
     {"192.168.0.111": "198.18.0.111", "192.168.137.130": "198.19.137.130", "192.168.137.131": "198.19.137.131"}),
    ("seed_004_timeout.txt", "004_baf05896215ab3b6.txt", 1169, 1169, {}),
]


def remap(text, amap):
    for old, new in amap.items():
        text = text.replace(old, new)
    return text


def seed_line(line, amap):
    """Moves addresses; real-server lines are re-padded with ipvsadm's format
    after checking that the format reproduces the seed line itself (the blog
    copies lost some trailing blanks, which is all that may differ)."""
    if line.startswith("  -> ") and not line.startswith("  -> RemoteAddress"):
        name, fwd, w, act, inact = line.split()[1:6]
        fmt = "  -> %-28s %-7s %-6d %-10u %-10u"
        own = fmt % (name, fwd, int(w), int(act), int(inact))
        assert own.rstrip() == line.rstrip() and own.startswith(line), (own, line)
        return fmt % (remap(name, amap), fwd, int(w), int(act), int(inact))
    return remap(line, amap)


def seeds():
    for golden, seed, first, last, amap in SEED_CUTS:
        with open(SEEDS + seed, encoding="utf-8") as f:
            lines = f.read().split("\n")[first - 1:last]
        with open(golden, "w") as f:
            f.write("".join(seed_line(l.strip("`") if "Timeout" in l else l, amap) + "\n" for l in lines))


if __name__ == "__main__":
    seeds()
