#!/usr/bin/python3
"""Sends crafted IPv4 fragment sequences (built with scapy, sent through a
raw socket) for the fragment accounting test. Usage:

  frag_seq.py SRC DST SCENARIO...

Scenarios (each its own IP id; UDP to port 7007 unless said otherwise):
  complete    a 3000-byte UDP datagram in 3 fragments, in order
  reverse     the same, last fragment first
  first_only  only the first fragment (the datagram never completes)
  dup_first   the first fragment twice, then the other two
  tiny_first  TCP: a later fragment, then a first fragment with only 8 bytes
              of TCP header, then the last fragment
  malformed   the last fragment, a middle one of 999 bytes (not a multiple
              of 8, with more to come), then the first
  no_flow     to port 45678 (nothing mapped there): 2nd, 1st, 3rd fragment
Prints the number of fragments sent."""
import socket
import sys

from scapy.all import IP, TCP, UDP, Raw, raw  # noqa: E402

IDS = {"complete": 0x5101, "reverse": 0x5102, "first_only": 0x5103,
       "dup_first": 0x5104, "tiny_first": 0x5105, "malformed": 0x5106,
       "no_flow": 0x5107}


def fragment(src, dst, ident, proto, l4, begin, end, more):
    ip = IP(src=src, dst=dst, id=ident, proto=proto, ttl=64,
            flags="MF" if more else 0, frag=begin // 8)
    return raw(ip / Raw(l4[begin:end]))


def udp_l4(src, dst, dport, size, sport=40001):
    payload = bytes((i * 7) & 0xFF for i in range(size))
    whole = IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(payload)
    return raw(whole)[20:]


def scenario(name, src, dst):
    ident = IDS[name]
    if name == "tiny_first":
        payload = b"x" * 100
        l4 = raw(IP(src=src, dst=dst) / TCP(sport=40002, dport=7007,
                                            flags="S") / Raw(payload))[20:]
        first = fragment(src, dst, ident, 6, l4, 0, 8, True)
        mid = fragment(src, dst, ident, 6, l4, 8, 24, True)
        last = fragment(src, dst, ident, 6, l4, 24, len(l4), False)
        return [mid, first, last]
    dport = 45678 if name == "no_flow" else 7007
    l4 = udp_l4(src, dst, dport, 3000)
    f = [fragment(src, dst, ident, 17, l4, 0, 1000, True),
         fragment(src, dst, ident, 17, l4, 1000, 2000, True),
         fragment(src, dst, ident, 17, l4, 2000, len(l4), False)]
    if name == "complete":
        return f
    if name == "reverse":
        return f[::-1]
    if name == "first_only":
        return [f[0]]
    if name == "dup_first":
        return [f[0], f[0], f[1], f[2]]
    if name == "malformed":
        bad = fragment(src, dst, ident, 17, l4, 1000, 1999, True)
        return [f[2], bad, f[0]]
    if name == "no_flow":
        return [f[1], f[0], f[2]]
    raise SystemExit("unknown scenario " + name)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sent = 0
    for name in sys.argv[3:]:
        for frag in scenario(name, src, dst):
            s.sendto(frag, (dst, 0))
            sent += 1
    print(sent)


if __name__ == "__main__":
    main()
