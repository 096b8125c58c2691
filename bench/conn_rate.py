#!/usr/bin/env python3
"""New TCP connections per second, for bench/side_by_side.sh.

  conn_rate.py serve ADDR PORT
      accepts and closes at once (the server sends the first FIN), forever
  conn_rate.py run ADDR PORT --seconds N [--concurrency C] [--ports A-B]
      keeps C connection attempts in flight for N seconds; each one is
      connect (the whole handshake), then wait for the server's FIN, then
      close; prints one JSON line: connections completed, failures, rate

One thread and epoll on each side, non-blocking sockets, no asyncio (its
overhead per connection is larger than the raw loop's). The server closes
first, so the TIME_WAIT state stays on the server and the client's ports
are free again once the server has acknowledged the client's FIN.

--ports A-B: the client binds each connection to a source port of its own
range, taken in turn. The same range is used for every NAT. unatd's default
quota is 4096 ports per inside host and a freed port stays held 120 s, so a
client drawing fresh ephemeral ports would hit the quota within a second; a
port range below the quota makes every connection after the first round a
new connection on a 4-tuple the NAT saw closed (unatd and conntrack both
start a new connection on such a SYN; slirp4netns and pasta open a new
socket of their own for it).
"""
import errno
import json
import select
import socket
import sys
import time


def serve(addr, port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(4096)
    ls.setblocking(False)
    ep = select.epoll()
    ep.register(ls.fileno(), select.EPOLLIN)
    while True:
        for _fd, _ev in ep.poll():
            while True:
                try:
                    c, _ = ls.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as e:
                    if e.errno in (errno.EMFILE, errno.ENFILE, errno.ECONNABORTED):
                        break
                    raise
                c.close()


def run(addr, port, seconds, concurrency, ports):
    ep = select.epoll()
    socks = {}  # fd -> [sock, started]
    done = failed = bind_failed = 0
    next_port = [ports[0]] if ports else None
    deadline = 1.0  # an attempt that takes longer than this is a failure

    def start():
        nonlocal failed, bind_failed
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        if ports:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            for _ in range(ports[1] - ports[0] + 1):
                p = next_port[0]
                next_port[0] = p + 1 if p < ports[1] else ports[0]
                try:
                    s.bind(("0.0.0.0", p))
                    break
                except OSError:
                    bind_failed += 1
            else:
                s.close()
                failed += 1
                return
        try:
            s.connect((addr, port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            failed += 1
            return
        socks[s.fileno()] = [s, time.monotonic()]
        ep.register(s.fileno(), select.EPOLLIN)

    def finish(fd, ok):
        nonlocal done, failed
        s = socks.pop(fd)[0]
        ep.unregister(fd)
        s.close()
        if ok:
            done += 1
        else:
            failed += 1

    t0 = time.monotonic()
    end = t0 + seconds
    for _ in range(concurrency):
        start()
    last_sweep = t0
    while True:
        now = time.monotonic()
        if now >= end:
            break
        for fd, ev in ep.poll(0.05):
            ent = socks.get(fd)
            if ent is None:
                continue
            # Readable: the server's FIN (recv gives b"", so the handshake
            # completed) or an error (a refused or reset connection).
            try:
                data = ent[0].recv(64)
            except OSError:
                data = None
            finish(fd, data == b"")
            if time.monotonic() < end:
                start()
        now = time.monotonic()
        if now - last_sweep > 0.1:
            last_sweep = now
            for fd in [fd for fd, e in socks.items() if now - e[1] > deadline]:
                finish(fd, False)
                start()
    elapsed = time.monotonic() - t0
    for fd in list(socks):  # cut off by the end of the run: not counted
        ep.unregister(fd)
        socks.pop(fd)[0].close()
    print(json.dumps({
        "connections": done,
        "failed": failed,
        "bind_retries": bind_failed,
        "seconds": round(elapsed, 3),
        "rate": round(done / elapsed, 1),
    }))


def main(argv):
    if len(argv) >= 3 and argv[0] == "serve":
        serve(argv[1], int(argv[2]))
        return 0
    if len(argv) >= 3 and argv[0] == "run":
        seconds, concurrency, ports = 5.0, 32, None
        rest = argv[3:]
        while rest:
            opt = rest.pop(0)
            if opt == "--seconds":
                seconds = float(rest.pop(0))
            elif opt == "--concurrency":
                concurrency = int(rest.pop(0))
            elif opt == "--ports":
                a, b = rest.pop(0).split("-")
                ports = (int(a), int(b))
            else:
                raise SystemExit("conn_rate.py: unknown option " + opt)
        run(argv[1], int(argv[2]), seconds, concurrency, ports)
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
