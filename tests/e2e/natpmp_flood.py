#!/usr/bin/python3
"""NAT-PMP lease flood for the e2e tests: many clients (addresses already on
a local device) each ask for PORTS TCP mappings (internal ports 1..PORTS,
lifetime 3600 s) from GATEWAY:5351, within the server's per-client rate
limit (10/s, burst 20): a request with no answer after 1 s is sent again.
Prints one JSON line: requests sent, answers by result code, unanswered.

  natpmp_flood.py GATEWAY FIRST_ADDRESS CLIENTS PORTS
"""
import ipaddress
import json
import select
import socket
import struct
import sys
import time


def main():
    gateway, first, clients, ports = (sys.argv[1], sys.argv[2],
                                      int(sys.argv[3]), int(sys.argv[4]))
    base = ipaddress.IPv4Address(first)
    socks = {}
    todo = {}      # fd -> internal ports not sent yet (or to send again)
    inflight = {}  # fd -> {internal port: when it was sent}
    for i in range(clients):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((str(base + i), 0))
        s.connect((gateway, 5351))
        s.setblocking(False)
        socks[s.fileno()] = s
        todo[s.fileno()] = list(range(1, ports + 1))
        inflight[s.fileno()] = {}
    results = {}
    sent = 0
    started = time.monotonic()
    deadline = started + 60
    first_round = True
    while (any(todo.values()) or any(inflight.values())) and \
            time.monotonic() < deadline:
        now = time.monotonic()
        # A request the server dropped (rate limit) or lost: again after 1 s.
        for fd, waiting in inflight.items():
            for port, at in list(waiting.items()):
                if now - at > 1.0:
                    del waiting[port]
                    todo[fd].append(port)
        # First round: most of the burst; then one request per client per
        # round (the bucket refills at 10/s, a round lasts >= 110 ms).
        for fd, left in todo.items():
            for port in left[:15 if first_round else 1]:
                socks[fd].send(struct.pack("!BBHHHI", 0, 2, 0, port, 0, 3600))
                inflight[fd][port] = now
                sent += 1
            del left[:15 if first_round else 1]
        first_round = False
        round_end = time.monotonic() + 0.11
        while True:
            wait = round_end - time.monotonic()
            if wait <= 0:
                break
            ready, _, _ = select.select(list(socks), [], [], wait)
            for fd in ready:
                try:
                    data = socks[fd].recv(64)
                except OSError:
                    continue
                if len(data) < 16 or data[1] != 130:
                    continue
                result, = struct.unpack("!H", data[2:4])
                iport, = struct.unpack("!H", data[8:10])
                if inflight[fd].pop(iport, None) is not None:
                    results[str(result)] = results.get(str(result), 0) + 1
    print(json.dumps({
        "clients": clients,
        "sent": sent,
        "results": results,
        "unanswered": sum(len(v) for v in todo.values()) +
        sum(len(v) for v in inflight.values()),
        "seconds": round(time.monotonic() - started, 1),
    }))


if __name__ == "__main__":
    main()
