#!/usr/bin/env python3
"""Userspace tunnel endpoint for rvs TUN end-to-end tests (test code, stdlib only).

The test machines' kernel has no ipip/gre/fou (nor ip6_tunnel/ip6_gre) modules, so a
real server cannot terminate IPVS tunnels itself. This helper does it: it receives the
director's encapsulated packets and writes the inner IPv4 or IPv6 packet to a TUN
device (IFF_TUN | IFF_NO_PI), where the real server's kernel receives it as if it had
come off a tunnel interface ("ifconfig tunl0 VIP up" in the LVS TUN recipes).

    IPIP    raw socket, IP protocol 4:  strip the outer IPv4 header
    GRE     raw socket, IP protocol 47: strip the outer IPv4 header and the GRE header
            (4 bytes, +4 per C/K/S bit); only protocol type 0x0800 is accepted
    GUE     UDP socket on --gue-port:    strip the GUE header (version 0, 4 + hlen*4
            bytes); only proto/ctype 4 (IPIP) is accepted
    ip6ip6  raw IPv6 socket, next header 41 (the kernel strips the outer IPv6 header)
    GRE6    raw IPv6 socket, next header 47; protocol type 0x86DD only
    GUE6    UDP over IPv6 on --gue-port (zero checksums accepted, UDP_NO_CHECK6_RX, as a
            fou/GUE receiver must for --tun-nocsum); proto/ctype 41 (IPv6) only
A GRE checksum (C bit) is verified; a wrong one counts as bad.

Counts are printed on SIGTERM/SIGINT and every --report seconds as
"decap ipip=N gre=N gue=N ip6ip6=N gre6=N gue6=N bad=N".

Usage: tun_decap.py --dev tun0 [--gue-port 6080] [--report 0]
Runs inside the real server's network namespace, as root.
"""

import argparse
import fcntl
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IPPROTO_IPIP = 4
IPPROTO_GRE = 47
IPPROTO_IPV6 = 41
SOL_UDP = 17
UDP_NO_CHECK6_RX = 102


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    subprocess.run(["ip", "link", "set", "dev", name, "up"], check=True)
    return fd


def strip_ipv4(pkt):
    """The payload of an IPv4 packet (as a raw socket returns it), or None."""
    if len(pkt) < 20 or pkt[0] >> 4 != 4:
        return None
    hl = (pkt[0] & 0x0F) * 4
    total = struct.unpack("!H", pkt[2:4])[0]
    if hl < 20 or total < hl or total > len(pkt):
        return None
    return pkt[hl:total]


def internet_sum_ok(data):
    """Whether the ones' complement sum of `data` (with its checksum field) is 0xffff."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return s == 0xFFFF


def gre_inner(payload, ethertype=0x0800):
    if len(payload) < 4:
        return None
    flags, proto = struct.unpack("!HH", payload[:4])
    if proto != ethertype or flags & 0x0007:  # the expected family, GRE version 0
        return None
    if flags & 0x8000 and not internet_sum_ok(payload):
        return None
    off = 4 + 4 * sum(1 for bit in (0x8000, 0x2000, 0x1000) if flags & bit)
    return payload[off:] if len(payload) > off else None


def gue_inner(payload, inner_proto=IPPROTO_IPIP):
    if len(payload) < 4:
        return None
    first, proto = payload[0], payload[1]
    if first >> 6 != 0 or first & 0x20 or proto != inner_proto:  # v0, data, family
        return None
    off = 4 + (first & 0x1F) * 4
    return payload[off:] if len(payload) > off else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", default="tun0")
    ap.add_argument("--gue-port", type=int, default=0)
    ap.add_argument("--report", type=float, default=0.0)
    args = ap.parse_args()

    tun = open_tun(args.dev)
    socks = {
        "ipip": socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_IPIP),
        "gre": socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_GRE),
    }
    socks["ip6ip6"] = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_IPV6)
    socks["gre6"] = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_GRE)
    if args.gue_port:
        gue = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        gue.bind(("0.0.0.0", args.gue_port))
        socks["gue"] = gue
        gue6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        gue6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        gue6.setsockopt(SOL_UDP, UDP_NO_CHECK6_RX, 1)
        gue6.bind(("::", args.gue_port))
        socks["gue6"] = gue6
    counts = {"ipip": 0, "gre": 0, "gue": 0, "ip6ip6": 0, "gre6": 0, "gue6": 0, "bad": 0}
    version = {"ipip": 4, "gre": 4, "gue": 4, "ip6ip6": 6, "gre6": 6, "gue6": 6}

    def report(*_):
        print("decap " + " ".join(f"{k}={v}" for k, v in counts.items()), flush=True)

    def stop(*_):
        report()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"decap ready on {args.dev}: {' '.join(sorted(socks))}", flush=True)
    by_fd = {s.fileno(): (kind, s) for kind, s in socks.items()}
    next_report = time.monotonic() + args.report if args.report else None
    while True:
        ready, _, _ = select.select(list(by_fd), [], [], 1.0)
        for fd in ready:
            kind, s = by_fd[fd]
            data = s.recv(65535)
            if kind == "ipip":
                inner = strip_ipv4(data)
            elif kind == "gre":
                payload = strip_ipv4(data)
                inner = gre_inner(payload) if payload is not None else None
            elif kind == "gue":
                inner = gue_inner(data)
            elif kind == "ip6ip6":
                inner = data  # an IPv6 raw socket returns the payload only
            elif kind == "gre6":
                inner = gre_inner(data, 0x86DD)
            else:
                inner = gue_inner(data, IPPROTO_IPV6)
            if inner is None or len(inner) < 20 or inner[0] >> 4 != version[kind]:
                counts["bad"] += 1
                continue
            os.write(tun, inner)
            counts[kind] += 1
        if next_report and time.monotonic() >= next_report:
            report()
            next_report = time.monotonic() + args.report


if __name__ == "__main__":
    main()
