#!/usr/bin/env python3
"""The "internet" server of test_uplink: says who it sees.

  uplink_server.py --http PORT --udp PORT --icmp-log FILE

HTTP GET /whoami answers "ADDRESS PORT" of the TCP peer (other paths: 404);
every UDP datagram to --udp is answered with "ADDRESS PORT" of its sender;
the source address of every ICMP echo request that arrives is appended to
--icmp-log, one a line (the kernel answers the pings itself).
"""
import argparse
import http.server
import socket
import struct
import threading


class WhoAmI(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/whoami":
            self.send_error(404)
            return
        body = ("%s %d\n" % self.client_address).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


def udp_loop(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        _, peer = s.recvfrom(2048)
        s.sendto(("%s %d\n" % peer).encode(), peer)


def icmp_loop(path):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    while True:
        pkt = s.recv(65535)
        ihl = (pkt[0] & 0x0F) * 4
        if len(pkt) > ihl and pkt[ihl] == 8:  # echo request
            src = socket.inet_ntoa(struct.unpack("!4s", pkt[12:16])[0])
            with open(path, "a") as f:
                f.write(src + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--http", type=int, required=True)
    ap.add_argument("--udp", type=int, required=True)
    ap.add_argument("--icmp-log", required=True)
    a = ap.parse_args()
    for target, arg in ((udp_loop, a.udp), (icmp_loop, a.icmp_log)):
        threading.Thread(target=target, args=(arg,), daemon=True).start()
    http.server.ThreadingHTTPServer(("0.0.0.0", a.http), WhoAmI).serve_forever()


if __name__ == "__main__":
    main()
