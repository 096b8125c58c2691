#!/usr/bin/python3
"""Blind handshake completion for test_inbound_flood.sh.

  blind_ack.py DST PORT BATCHES PER_BATCH

From spoofed sources, each batch sends PER_BATCH SYNs to DST:PORT, waits
for the inside host's SYN-ACKs to pass unat (to addresses that are nobody's,
so the spoofer never sees them), then follows each SYN with what a blind
attacker can send: an ACK and a FIN|ACK guessing at the host's ISN. A NAT
that believes them completes the handshakes and puts the flows on the
inside host's budget.
"""
import logging
import random
import sys
import time

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import IP, TCP, conf, send

conf.verb = 0


def main():
    dst, port, batches, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(1723)
    for _ in range(batches):
        peers = [("100.%d.%d.%d" % (rng.randrange(64, 128), rng.randrange(256),
                                     rng.randrange(1, 255)), rng.randrange(1024, 65535))
                 for _ in range(per)]
        send([IP(src=s, dst=dst) / TCP(sport=p, dport=port, flags="S", seq=1000)
              for s, p in peers])
        time.sleep(0.3)
        guesses = []
        for s, p in peers:
            guess = rng.getrandbits(32)
            guesses.append(IP(src=s, dst=dst) / TCP(sport=p, dport=port, flags="A",
                                                  seq=1001, ack=guess))
            guesses.append(IP(src=s, dst=dst) / TCP(sport=p, dport=port, flags="FA",
                                                  seq=1001, ack=guess + 1))
        send(guesses)


if __name__ == "__main__":
    main()
