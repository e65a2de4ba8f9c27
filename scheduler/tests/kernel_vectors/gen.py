#!/usr/bin/env python3
"""Writes mod.rs: reference picks of the kernel's IPVS schedulers for kernel_order.rs.

An independent model of net/netfilter/ipvs (ip_vs_rr.c, ip_vs_wrr.c, ip_vs_lc.c ...,
ip_vs_dh.c, ip_vs_sh.c, ip_vs_mh.c, lib/siphash.c on a 64-bit machine), written in Python
from reading those files, so the vectors do not come from the Rust code under test. What it
models of the kernel:
  * ip_vs_add_dest puts a new real server at the HEAD of the service's list (list_add_rcu),
    so every loop below walks the servers newest first;
  * hsiphash on 64-bit kernels is SipHash-1-3 with two 64-bit key words, truncated to 32 bits;
  * mh: offsets/skips from the fixed keys, gcd of last_weight, rshift from
    CONFIG_IP_VS_MH_TAB_INDEX / 2, round-robin population in list order, fallback re-hash.
Run from this directory: python3 gen.py > mod.rs
"""
import ipaddress

M64 = (1 << 64) - 1
PRIMES = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071]


def rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & M64


def sipround(v):
    v0, v1, v2, v3 = v
    v0 = (v0 + v1) & M64; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
    v2 = (v2 + v3) & M64; v3 = rotl(v3, 16); v3 ^= v2
    v0 = (v0 + v3) & M64; v3 = rotl(v3, 21); v3 ^= v0
    v2 = (v2 + v1) & M64; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
    return [v0, v1, v2, v3]


def hsiphash_u32(value, key):
    """lib/siphash.c __hsiphash_aligned(&value, 4, key), BITS_PER_LONG == 64."""
    k0, k1 = key
    v = [0x736f6d6570736575 ^ k0, 0x646f72616e646f6d ^ k1,
         0x6c7967656e657261 ^ k0, 0x7465646279746573 ^ k1]
    b = (4 << 56) | int.from_bytes(value.to_bytes(4, "little"), "little")
    v[3] ^= b
    v = sipround(v)
    v[0] ^= b
    v[2] ^= 0xff
    for _ in range(3):
        v = sipround(v)
    return ((v[0] ^ v[1]) ^ (v[2] ^ v[3])) & 0xffffffff


def fold(addr):
    a = ipaddress.ip_address(addr)
    if a.version == 4:
        return int(a)
    x = int(a)
    return (x >> 96 ^ x >> 64 ^ x >> 32 ^ x) & 0xffffffff


def hash_32(val, bits):
    return ((val * 0x61C88647) & 0xffffffff) >> (32 - bits)


class Dest:
    def __init__(self, addr, port, weight, last_weight=None):
        self.addr, self.port, self.weight = addr, port, weight
        self.last_weight = weight if last_weight is None else last_weight
        self.overload = False


def kernel_list(added):
    """The service's list after adding `added` in order: newest first."""
    lst = []
    for d in added:
        lst.insert(0, d)
    return lst


def unusable(d):
    return d.weight <= 0 or d.overload


# ---- rr / wrr (ip_vs_rr.c, ip_vs_wrr.c), idle servers -------------------------------
def rr_seq(lst, n):
    out, last = [], -1  # -1: the list head
    for _ in range(n):
        found = None
        # walk from last's successor, wrapping over the head once
        order = list(range(last + 1, len(lst))) + list(range(0, last + 1))
        for i in order:
            if not unusable(lst[i]):
                found = i
                break
        out.append(None if found is None else lst[found])
        if found is not None:
            last = found
    return out


def gcd(a, b):
    while b:
        a, b = b, a % b
    return a


class Wrr:
    def __init__(self, lst):
        self.lst = lst
        g = 0
        for d in lst:
            if d.weight > 0:
                g = gcd(d.weight, g) if g else d.weight
        self.di = g if g else 1
        self.mw = max([d.weight for d in lst] + [0]) - (self.di - 1)
        self.cl = -1
        self.cw = self.mw

    def pick(self):
        if self.mw <= 0:
            return None
        last = self.cl
        i, stop, last_pass, restarted = self.cl, None, False, False
        while True:
            i += 1
            while i < len(self.lst):
                d = self.lst[i]
                if not d.overload and d.weight >= self.cw:
                    self.cl = i
                    return d
                if i == stop:
                    self.cl = i
                    return None
                i += 1
            i = -1
            self.cw -= self.di
            if self.cw <= 0:
                self.cw = self.mw
                if last_pass or last == -1:
                    self.cl = -1
                    return None
                restarted = True
            last_pass = self.cw <= self.di
            if last_pass and restarted and last != -1:
                stop = last


# ---- least-connection family, first in list order wins ties --------------------------
def least(lst, loads, overhead):
    best, boh = None, None
    for d, l in zip(lst, loads):
        if unusable(d):
            continue
        doh = overhead(l)
        if best is None or boh * d.weight > doh * best.weight:
            best, boh = d, doh
    return best


def fo(lst):
    best = None
    for d in lst:
        if not unusable(d) and (best is None or d.weight > best.weight):
            best = d
    return best


# ---- dh / sh (ip_vs_dh.c, ip_vs_sh.c) -------------------------------------------------
def dh_pick(lst, dst):
    table = [lst[b % len(lst)] for b in range(256)]
    d = table[hash_32(fold(dst), 8)]
    return None if unusable(d) else d


def sh_table(lst):
    table, p, count = [], 0, 0
    for _ in range(256):
        d = lst[p]
        table.append(d)
        count += 1
        if count >= d.weight:
            p = (p + 1) % len(lst)
            count = 0
    return table


def sh_pick(lst, src, port):
    t = sh_table(lst)
    d = t[hash_32((port + fold(src)) & 0xffffffff, 8) & 255]
    return None if unusable(d) else d


# ---- mh (ip_vs_mh.c) ------------------------------------------------------------------
H1 = (2654435761, 2654435761)
H2 = (2654446892, 2654446892)


def mh_hashkey(addr, port, key, offset):
    return hsiphash_u32((offset + port + fold(addr)) & 0xffffffff, key)


def mh_table(lst, size):
    bits = (PRIMES.index(size) + 8) // 2
    g = 0
    for d in lst:
        if d.last_weight > 0:
            g = gcd(d.last_weight, g) if g else d.last_weight
    table = [None] * size
    if g < 1:
        return table
    mw = max(d.last_weight for d in lst) // g
    rshift = max(mw.bit_length() - bits, 0)
    setup = []
    for d in lst:
        off = mh_hashkey(d.addr, d.port, H1, 0) % size
        skip = mh_hashkey(d.addr, d.port, H2, 0) % (size - 1) + 1
        t = (d.last_weight // g) >> rshift
        setup.append([off, skip, t if t else int(d.last_weight != 0)])
    taken = [False] * size
    n = 0
    while True:
        for i, d in enumerate(lst):
            ds = setup[i]
            for _ in range(ds[2]):
                c = ds[0]
                while taken[c]:
                    ds[0] += ds[1]
                    if ds[0] >= size:
                        ds[0] -= size
                    c = ds[0]
                taken[c] = True
                table[c] = d
                n += 1
                if n == size:
                    return table


def mh_pick(table, src, port, fallback):
    size = len(table)
    ih = mh_hashkey(src, port, H1, 0) % size
    d = table[ih]
    if d is None:
        return None
    if not unusable(d):
        return d
    if not fallback:
        return None
    for off in range(size):
        ro = (off + ih) % size
        d = table[mh_hashkey(src, port, H1, ro) % size]
        if d is None:
            break
        if not unusable(d):
            return d
    return None


# ---- output -----------------------------------------------------------------------------
def name(d):
    return "None" if d is None else 'Some("%s")' % d.addr


def servers(spec):
    """(addr, weight[, last_weight]) in ADD order -> Rust tuple list."""
    return "&[%s]" % ", ".join(
        '("%s", %d, %d)' % (a, w, lw) for a, w, lw in
        [(s[0], s[1], s[2] if len(s) > 2 else s[1]) for s in spec])


def dests(spec, port=80):
    return [Dest(s[0], port, s[1], s[2] if len(s) > 2 else None) for s in spec]


def emit_const(cname, spec, picks, doc):
    print("/// %s" % doc)
    print("pub const %s: Case = Case {" % cname)
    print("    added: %s," % servers(spec))
    print("    picks: &[")
    for (src, port), d in picks:
        print('        ("%s", %d, %s),' % (src, port, name(d)))
    print("    ],")
    print("};")
    print()


def main():
    print("//! Generated by gen.py (an independent Python model of the kernel's IPVS schedulers);")
    print("//! do not edit. `added`: (address, weight, last_weight) in the order the real servers")
    print("//! were added, port 80; `picks`: (client or destination address, client port, the")
    print("//! real server the kernel picks).")
    print()
    print("/// One service and the kernel's picks for it.")
    print("pub struct Case {")
    print("    pub added: &'static [(&'static str, u16, u16)],")
    print("    pub picks: &'static [(&'static str, u16, Option<&'static str>)],")
    print("}")
    print()
    three = [("198.19.0.1", 1), ("198.19.0.2", 1), ("198.19.0.3", 1)]
    lst = kernel_list(dests(three))
    emit_const("RR", three, [(("-", 0), d) for d in rr_seq(lst, 7)],
               "rr over three servers added .1, .2, .3: seven picks.")
    wspec = [("198.19.0.1", 4), ("198.19.0.2", 3), ("198.19.0.3", 2)]
    w = Wrr(kernel_list(dests(wspec)))
    emit_const("WRR", wspec, [(("-", 0), w.pick()) for _ in range(18)],
               "wrr 4, 3, 2 (added in that order): eighteen picks.")
    w2 = [("198.19.0.1", 3), ("198.19.0.2", 3), ("198.19.0.3", 1)]
    w = Wrr(kernel_list(dests(w2)))
    emit_const("WRR_331", w2, [(("-", 0), w.pick()) for _ in range(14)],
               "wrr 3, 3, 1 (added in that order): fourteen picks.")
    # least-connection family with idle servers: the first of the list, the one added last.
    lst = kernel_list(dests(three))
    emit_const("WLC_IDLE", three,
               [(("-", 0), least(lst, [(0, 0)] * 3, lambda l: l[0] * 256 + l[1]))],
               "wlc (and lc, sed, nq, fo, ovf) over idle equal servers: the list head.")
    five = [("198.19.0.%d" % i, 1) for i in range(1, 6)]
    lst = kernel_list(dests(five))
    emit_const("DH", five,
               [(("198.18.0.%d" % h, 0), dh_pick(lst, "198.18.0.%d" % h)) for h in range(1, 25)],
               "dh over five servers: destination addresses (the client port is unused).")
    sh = [("198.19.0.1", 1), ("198.19.0.2", 2), ("198.19.0.3", 3)]
    lst = kernel_list(dests(sh))
    emit_const("SH", sh,
               [(("198.18.1.%d" % h, 0), sh_pick(lst, "198.18.1.%d" % h, 0)) for h in range(1, 25)],
               "sh 1, 2, 3: client addresses.")
    emit_const("SH_PORT", sh,
               [(("198.18.1.7", p), sh_pick(lst, "198.18.1.7", p)) for p in range(40000, 40016)],
               "sh 1, 2, 3 with sh-port: one client, sixteen ports.")
    cases = [
        ("MH_4093_EQUAL", 4093, [("198.19.0.%d" % i, 1) for i in range(1, 5)], False, False, "v4",
         "mh, default table (4093), four equal servers."),
        ("MH_4093_WEIGHTED", 4093, [("198.19.0.1", 1), ("198.19.0.2", 2), ("198.19.0.3", 3),
                                    ("198.19.0.4", 4)], False, False, "v4",
         "mh, default table, weights 1..4."),
        ("MH_4093_SHIFT", 4093, [("198.19.0.1", 1000), ("198.19.0.2", 3000),
                                 ("198.19.0.3", 65535)], False, False, "v4",
         "mh, default table, weights whose weight/gcd needs the kernel's rshift."),
        ("MH_251", 251, [("198.19.0.1", 100), ("198.19.0.2", 200), ("198.19.0.3", 50)],
         False, False, "v4", "mh, table 251, weights 100/200/50 (gcd 50)."),
        ("MH_65521", 65521, [("198.19.0.%d" % i, 1) for i in range(1, 11)], False, False, "v4",
         "mh, table 65521, ten equal servers."),
        ("MH_QUIESCED", 4093, [("198.19.0.1", 1), ("198.19.0.2", 1), ("198.19.0.3", 0, 1),
                               ("198.19.0.4", 1)], False, False, "v4",
         "mh, default table, .3 set to weight 0 after being added with 1 (last_weight 1): its"
         " flows find no server."),
        ("MH_QUIESCED_FALLBACK", 4093, [("198.19.0.1", 1), ("198.19.0.2", 1),
                                        ("198.19.0.3", 0, 1), ("198.19.0.4", 1)], True, False,
         "v4", "as MH_QUIESCED with mh-fallback."),
        ("MH_PORT", 4093, [("198.19.0.%d" % i, 1) for i in range(1, 5)], False, True, "port",
         "mh-port: one client, sixteen ports."),
        ("MH_V6", 4093, [("2001:db8::1", 1), ("2001:db8::2", 2), ("2001:db8::3", 1)],
         False, False, "v6", "mh over IPv6 real servers and clients."),
    ]
    for cname, size, spec, fb, port, clients, doc in cases:
        lst = kernel_list(dests(spec))
        table = mh_table(lst, size)
        if clients == "v4":
            flows = [("198.18.%d.%d" % (h // 200, h % 200 + 1), 0) for h in range(48)]
        elif clients == "v6":
            flows = [("2001:db8:1::%x" % (h + 1), 0) for h in range(24)]
        else:
            flows = [("198.18.0.9", p) for p in range(50000, 50016)]
        picks = [((src, p), mh_pick(table, src, p, fb)) for src, p in flows]
        print("/// Table size of %s." % cname)
        print("pub const %s_SIZE: u32 = %d;" % (cname, size))
        emit_const(cname, spec, picks, doc)


main()
