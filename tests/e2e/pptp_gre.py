#!/usr/bin/python3
"""Crafted enhanced GRE (PPTP data) for test_pptp.sh.

  pptp_gre.py send DST CALL_ID TAG [SEQ]
      one GRE v1 packet to DST with key CALL_ID, sequence number SEQ (1),
      carrying a PPP frame whose payload is TAG
  pptp_gre.py sniff IFACE SECONDS
      prints, one per line, "src dst key tag" for each GRE v1 packet seen

The lab has no /dev/ppp, so no pppd makes this traffic: the Call IDs are
the real ones pptp and pptpd negotiated through unat.
"""
import logging
import struct
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import IP, Raw, conf, send, sniff  # noqa: E402

conf.verb = 0
TAG_MARK = b"unat:"


def gre(call_id, seq, payload):
    # Flags K and S, version 1, protocol PPP (RFC 2637 4.1).
    return struct.pack("!BBHHHI", 0x30, 0x01, 0x880B, len(payload), call_id, seq) + payload


def main():
    if sys.argv[1] == "send":
        dst, call_id, tag = sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
        seq = int(sys.argv[5]) if len(sys.argv) > 5 else 1
        # PPP (address, control, protocol IPCP-ish 0x8021 config-request)
        # whose data carries the tag.
        ppp = b"\xff\x03\x80\x21" + TAG_MARK + tag
        send(IP(dst=dst, proto=47) / Raw(gre(call_id, seq, ppp)))
        return
    iface, seconds = sys.argv[2], float(sys.argv[3])

    def show(p):
        if IP not in p or p[IP].proto != 47:
            return
        b = bytes(p[IP].payload)
        if len(b) < 8 or (b[1] & 7) != 1:
            return
        key = struct.unpack("!H", b[6:8])[0]
        at = b.find(TAG_MARK)
        tag = b[at + len(TAG_MARK):].decode(errors="replace") if at >= 0 else "-"
        print(p[IP].src, p[IP].dst, key, tag, flush=True)

    sniff(iface=iface, timeout=seconds, prn=show, store=False)


if __name__ == "__main__":
    main()
