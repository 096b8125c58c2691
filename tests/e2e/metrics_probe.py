#!/usr/bin/env python3
"""Abuse of unatd's HTTP metrics endpoint (metrics_listen), for
test_metrics.sh. Prints one line per finding; exits 1 on the first failure.

  metrics_probe.py oversized HOST PORT   a 9 KiB header: 431, then closed
  metrics_probe.py cap HOST PORT         8 idle connections hold the cap: the
                                         9th and a GET are closed at once;
                                         the idle ones close at 5 s; then
                                         GET /metrics answers 200
"""
import socket
import sys
import time


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def connect(host, port):
    return socket.create_connection((host, port), timeout=3)


def read_all(s, timeout):
    """Everything until the server closes (b'' or a reset), or None at the
    timeout."""
    s.settimeout(timeout)
    got = b""
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return None
        except ConnectionResetError:
            return got
        if not chunk:
            return got
        got += chunk


def get(host, port):
    s = connect(host, port)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    got = read_all(s, 3)
    s.close()
    return got


def oversized(host, port):
    s = connect(host, port)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 +
              b"\r\n\r\n")
    got = read_all(s, 3)
    s.close()
    if got is None:
        fail("a 9 KiB header: the connection stayed open")
    if not got.startswith(b"HTTP/1.1 431 "):
        fail("a 9 KiB header: answer %r" % got[:80])
    print("a 9 KiB header: %s, then closed" % got.split(b"\r\n")[0].decode())


def cap(host, port):
    t0 = time.monotonic()
    idle = [connect(host, port) for _ in range(8)]
    time.sleep(0.3)
    for i, s in enumerate(idle):
        if read_all(s, 0.05) is not None:
            fail("idle connection %d closed at once" % i)
    ninth = connect(host, port)
    got = read_all(ninth, 2)
    if got is None:
        fail("the 9th connection stayed open")
    if got and not got.startswith(b"HTTP/1.1 503 "):
        fail("the 9th connection got %r" % got[:80])
    ninth.close()
    got = get(host, port)
    if got is None or (got and not got.startswith(b"HTTP/1.1 503 ")):
        fail("a GET over the cap got %r" % (got or b"")[:80])
    print("over the cap of 8: the 9th and a GET closed at once (%s)" %
          (got.split(b"\r\n")[0].decode() if got else "no answer"))
    # The idle ones: open at 4 s, closed by 7 s.
    time.sleep(max(0, 4.0 - (time.monotonic() - t0)))
    if read_all(idle[0], 0.05) is not None:
        fail("an idle connection closed before 4 s")
    for i, s in enumerate(idle):
        left = 7.0 - (time.monotonic() - t0)
        got = read_all(s, max(0.05, left))
        if got is None:
            fail("idle connection %d still open at 7 s" % i)
        if got:
            fail("idle connection %d got %r" % (i, got[:80]))
        s.close()
    print("8 idle connections closed at %.1f s" % (time.monotonic() - t0))
    got = get(host, port)
    if not got or not got.startswith(b"HTTP/1.1 200 "):
        fail("after the timeouts GET /metrics got %r" % (got or b"")[:80])
    print("then GET /metrics: 200 (%d bytes)" % len(got))


def main():
    what, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    {"oversized": oversized, "cap": cap}[what](host, port)


if __name__ == "__main__":
    main()
