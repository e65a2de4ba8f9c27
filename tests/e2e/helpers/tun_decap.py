#!/usr/bin/env python3
"""Userspace tunnel endpoint for rvs TUN end-to-end tests (test code, stdlib only).

The test machines' kernel has no ipip/gre/fou modules, so a real server cannot
terminate IPVS tunnels itself. This helper does it: it receives the director's
encapsulated packets and writes the inner IPv4 packet to a TUN device
(IFF_TUN | IFF_NO_PI), where the real server's kernel receives it as if it had come
off a tunnel interface ("ifconfig tunl0 VIP up" in the LVS TUN recipes).

    IPIP  raw socket, IP protocol 4:  strip the outer IPv4 header
    GRE   raw socket, IP protocol 47: strip the outer IPv4 header and the GRE header
          (4 bytes, +4 per C/K/S bit); only protocol type 0x0800 is accepted
    GUE   UDP socket on --gue-port:    strip the GUE header (version 0, 4 + hlen*4 bytes);
          only proto/ctype 4 (IPIP) is accepted

Counts are printed on SIGTERM/SIGINT and every --report seconds as
"decap ipip=N gre=N gue=N bad=N".

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


def gre_inner(payload):
    if len(payload) < 4:
        return None
    flags, proto = struct.unpack("!HH", payload[:4])
    if proto != 0x0800 or flags & 0x0007:  # IPv4 only, GRE version 0
        return None
    off = 4 + 4 * sum(1 for bit in (0x8000, 0x2000, 0x1000) if flags & bit)
    return payload[off:] if len(payload) > off else None


def gue_inner(payload):
    if len(payload) < 4:
        return None
    first, proto = payload[0], payload[1]
    if first >> 6 != 0 or first & 0x20 or proto != IPPROTO_IPIP:  # v0, data, IPIP
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
    if args.gue_port:
        gue = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        gue.bind(("0.0.0.0", args.gue_port))
        socks["gue"] = gue
    counts = {"ipip": 0, "gre": 0, "gue": 0, "bad": 0}

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
            else:
                inner = gue_inner(data)
            if inner is None or len(inner) < 20 or inner[0] >> 4 != 4:
                counts["bad"] += 1
                continue
            os.write(tun, inner)
            counts[kind] += 1
        if next_report and time.monotonic() >= next_report:
            report()
            next_report = time.monotonic() + args.report


if __name__ == "__main__":
    main()
