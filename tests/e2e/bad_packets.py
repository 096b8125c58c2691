#!/usr/bin/python3
"""Sends crafted IPv4 packets with scapy for test_bad_packets.sh.

  bad_packets.py inside    from unat-lan to 203.0.113.2:9999 (UDP) / :8000
  bad_packets.py outside   from unat-wan to the forward 203.0.113.1:8080

Each packet carries its case name as payload, so the receiver can tell
which ones got through.
"""
import sys

from scapy.all import IP, TCP, UDP, IPOption, Raw, conf, send

conf.verb = 0


def opt(raw):
    return [IPOption(bytes(raw))]


def inside():
    dst = "203.0.113.2"
    udp = lambda name, sport: UDP(sport=sport, dport=9999) / Raw(name.encode())
    cases = [
        # Sound options pass (record route, NOPs): the control.
        IP(dst=dst, options=opt([1, 7, 7, 4, 0, 0, 0, 0])) / udp("rr-ok", 4001),
        # Length 0, length 1, length past the header.
        IP(dst=dst, options=opt([7, 0, 0, 0])) / udp("optlen0", 4002),
        IP(dst=dst, options=opt([7, 1, 0, 0])) / udp("optlen1", 4003),
        IP(dst=dst, options=opt([1, 7, 40, 4])) / udp("optlong", 4004),
        # Loose and strict source routes.
        IP(dst=dst, options=opt([0x83, 7, 4, 192, 0, 2, 1, 0])) / udp("lsrr", 4005),
        IP(dst=dst, options=opt([0x89, 7, 4, 192, 0, 2, 1, 0])) / udp("ssrr", 4006),
        # A wrong UDP checksum on a new flow, a wrong TCP one on a SYN.
        IP(dst=dst) / UDP(sport=4007, dport=9999, chksum=0x1234) / Raw(b"badudp"),
        IP(dst=dst) / TCP(sport=4008, dport=8000, flags="S", chksum=0x1234),
    ]
    for p in cases:
        send(p)


def outside():
    dst = "203.0.113.1"
    send(IP(dst=dst) / TCP(sport=5001, dport=8080, flags="S", chksum=0x1234))
    send(IP(dst=dst, options=opt([0x83, 7, 4, 10, 77, 0, 2, 0])) /
         TCP(sport=5002, dport=8080, flags="S"))
    send(IP(dst=dst, options=opt([7, 0, 0, 0])) / TCP(sport=5003, dport=8080, flags="S"))


if __name__ == "__main__":
    {"inside": inside, "outside": outside}[sys.argv[1]]()
