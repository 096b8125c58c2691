#!/usr/bin/python3
"""UDP helpers for the e2e tests.

  udp_echo.py serve ADDR PORT         echo every datagram back (until killed)
  udp_echo.py ask ADDR PORT SIZE      send SIZE bytes, print "ok" when the
                                      same bytes come back (3 tries, 2 s each)
"""
import hashlib
import os
import socket
import sys


def serve(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)


def ask(addr, port, size):
    payload = os.urandom(size)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    for _ in range(3):
        s.sendto(payload, (addr, port))
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            continue
        if data == payload:
            print("ok")
            return 0
        print("mismatch: %d bytes, sha256 %s" %
              (len(data), hashlib.sha256(data).hexdigest()))
        return 1
    print("no answer")
    return 1


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(ask(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
