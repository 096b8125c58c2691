#!/usr/bin/python3
"""SSDP probe for the e2e tests (stdlib only). Prints one JSON document.

  ssdp_probe.py search ADDR MX WAIT ST...
      One M-SEARCH per ST (each from its own socket) to ADDR:1900 (the
      multicast group 239.255.255.250, or the gateway for a unicast search)
      with the given MX ("-" leaves the header out); collects answers for
      WAIT seconds. Output: {"ST": [{"delay": s, "headers": {...}}, ...]}.
  ssdp_probe.py listen IFADDR SECONDS
      Joins 239.255.255.250 on the interface with address IFADDR and records
      every NOTIFY for SECONDS (prints "listening" on stderr once joined).
      Output: [{"t": s, "headers": {...}}, ...].
  ssdp_probe.py sniff IFNAME SECONDS
      Counts UDP datagrams to or from port 1900 seen on IFNAME (any
      direction, AF_PACKET) for SECONDS. Output: {"udp1900": N}.
"""
import json
import select
import socket
import struct
import sys
import time

GROUP = "239.255.255.250"


def parse(data):
    text = data.decode("utf-8", "replace")
    lines = text.split("\r\n")
    headers = {"_start": lines[0]}
    for line in lines[1:]:
        if not line:
            break
        name, _, value = line.partition(":")
        headers[name.strip().upper()] = value.strip()
    return headers


def search(addr, mx, wait, targets):
    socks = {}
    start = time.monotonic()
    for st in targets:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
        s.bind(("", 0))
        msg = ("M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
               'MAN: "ssdp:discover"\r\n')
        if mx != "-":
            msg += "MX: %s\r\n" % mx
        msg += "ST: %s\r\n\r\n" % st
        s.sendto(msg.encode(), (addr, 1900))
        socks[s] = st
    out = {st: [] for st in targets}
    deadline = start + wait
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select(list(socks), [], [], left)
        for s in ready:
            data, _ = s.recvfrom(4096)
            out[socks[s]].append({"delay": round(time.monotonic() - start, 3),
                                  "headers": parse(data)})
    print(json.dumps(out))


def listen(ifaddr, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", 1900))
    mreq = struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton(ifaddr))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    print("listening", file=sys.stderr, flush=True)
    start = time.monotonic()
    out = []
    while True:
        left = start + seconds - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([s], [], [], left)
        if ready:
            data, _ = s.recvfrom(4096)
            h = parse(data)
            if h["_start"].startswith("NOTIFY"):
                out.append({"t": round(time.monotonic() - start, 3), "headers": h})
    print(json.dumps(out))


def sniff(ifname, seconds):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    s.bind((ifname, 0))
    start = time.monotonic()
    count = 0
    while True:
        left = start + seconds - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([s], [], [], left)
        if not ready:
            continue
        pkt = s.recv(65535)
        if len(pkt) < 20 or pkt[9] != 17:
            continue
        ihl = (pkt[0] & 0x0F) * 4
        if len(pkt) < ihl + 4:
            continue
        sport, dport = struct.unpack("!HH", pkt[ihl:ihl + 4])
        if 1900 in (sport, dport):
            count += 1
    print(json.dumps({"udp1900": count}))


def main():
    mode = sys.argv[1]
    if mode == "search":
        search(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5:])
    elif mode == "listen":
        listen(sys.argv[2], float(sys.argv[3]))
    elif mode == "sniff":
        sniff(sys.argv[2], float(sys.argv[3]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
