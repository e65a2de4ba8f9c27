#!/usr/bin/env python3
"""Sequential new HTTP/1.0 connections to a VIP, for the FULLNAT e2e tests (test code,
stdlib only): each connection sends one request and reads the answer until the server
closes (so the server closes first and keeps the tuple in TIME_WAIT).

    sequential_http.py VIP N LABEL [--even]

Prints one line (LABEL, time, answers by body, the connections slower than 0.5 s) and
exits non-zero if a connection fails, an answer is not rs1/rs2 (with --even: unless the
real servers answered N/2 each), or a connection took more than 0.5 s: a SYN the real
server refused waits a second for its retransmission.
"""
import socket
import sys
import time


def main():
    vip, n, label = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    even = "--even" in sys.argv[4:]
    slow, bodies = [], {}
    start = time.monotonic()
    for i in range(n):
        t0 = time.monotonic()
        s = socket.create_connection((vip, 80), timeout=5)
        s.sendall(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        took = time.monotonic() - t0
        body = data.split(b"\r\n\r\n", 1)[-1].strip().decode()
        bodies[body] = bodies.get(body, 0) + 1
        if took > 0.5:
            slow.append((i, round(took, 2)))
    print("%s: %d connections in %.1f s, answers %s, slower than 0.5 s: %s"
          % (label, n, time.monotonic() - start, bodies, slow or "none"))
    if even:
        assert bodies == {"rs1": n // 2, "rs2": n // 2}, bodies
    assert set(bodies) <= {"rs1", "rs2"} and sum(bodies.values()) == n, bodies
    assert not slow, "connections waited for a SYN retransmission"


if __name__ == "__main__":
    main()
