#!/usr/bin/python3
"""Writes the seed corpora of the libFuzzer targets into
tests/fuzz/corpus/<target>/ (a handful of valid inputs each, in each
target's input format; see the comment at the top of each *_fuzz.cc).
Run from anywhere: python3 tests/fuzz/make_corpus.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def rec(flags, payload):
    """flags(1) length(2) payload: the record most targets read."""
    return bytes([flags]) + struct.pack("!H", len(payload)) + payload


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, l4, ident=1, frag=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident, frag, 64,
                    proto, 0, ip4(src), ip4(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + l4


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport, dport, seq, ack, flags, payload=b""):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags,
                       65535, 0, 0) + payload


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def packet():
    # ctl (bit 0 outside, bit 1 tenant, bit 2 tick), repair (3: lengths and
    # checksums made right), IPv4 datagram.
    write("packet", "udp_out", b"\x00\x03" + ipv4(
        "10.77.0.2", "203.0.113.2", 17, udp(5000, 9, b"hello")))
    write("packet", "tcp_syn", b"\x00\x03" + ipv4(
        "10.77.0.2", "203.0.113.2", 6, tcp(40000, 80, 1, 0, 0x02)))
    write("packet", "natpmp", b"\x00\x03" + ipv4(
        "10.77.0.2", "10.77.0.1", 17,
        udp(5350, 5351, bytes.fromhex("0001000004D2162E0000003C"))))
    write("packet", "ping_in", b"\x05\x03" + ipv4(
        "203.0.113.2", "203.0.113.1", 1,
        bytes([8, 0, 0, 0, 0, 7, 0, 1]) + b"ping"))
    write("packet", "ftp_forward", b"\x01\x03" + ipv4(
        "203.0.113.2", "203.0.113.1", 6, tcp(40001, 2121, 9, 0, 0x02)))


def fragment():
    # mode(1), then flags(1) id(1) offset/8(2) length(2) payload.
    data = bytes((i * 7) & 0xFF for i in range(2000))
    first = udp(5000, 9, data)[:8] + data[:992]  # 1000 bytes: 0..1000

    def frag(flags, ident, off, payload):
        return bytes([flags, ident]) + struct.pack("!HH", off // 8,
                                                   len(payload)) + payload
    udp_all = udp(5000, 9, data)
    a = frag(0x02, 1, 0, udp_all[:1000])
    b = frag(0x02, 1, 1000, udp_all[1000:1504])
    c = frag(0x00, 1, 1504, udp_all[1504:])
    write("fragment", "virtual_in_order", b"\x00" + a + b + c)
    write("fragment", "virtual_reverse", b"\x00" + c + b + a)
    write("fragment", "full_reverse_small_mtu", b"\x03" + c + a + b)
    # From outside to the mapped UDP port (flag 0x20), out of order.
    o = [frag(0x23, 2, 0, udp_all[:1000]), frag(0x03, 2, 1000, udp_all[1000:])]
    write("fragment", "outside_to_mapping", b"\x00" + o[1] + o[0])
    # Overlap, duplicate first, a timeout in between.
    write("fragment", "overlap_dup_timeout",
          b"\x00" + b + frag(0x02, 1, 992, udp_all[992:1008]) + a + a +
          frag(0x90, 3, 1000, udp_all[1000:1504]))
    # A tiny TCP first fragment, then the rest; tight limits.
    t = tcp(5000, 9, 1, 0, 0x02, b"x" * 64)
    write("fragment", "tiny_tcp_first_limits",
          b"\x04" + frag(0x06, 4, 8, t[8:24]) + frag(0x06, 4, 0, t[:8]) +
          frag(0x04, 4, 24, t[24:]))
    del first


def natpmp():
    ext = bytes.fromhex("0000")
    map_udp = bytes.fromhex("0001000004D2162E0000003C")
    map_tcp = bytes.fromhex("000200001F901F9000001C20")
    del_udp = bytes.fromhex("0001000004D2000000000000")
    del_all = bytes.fromhex("000100000000000000000000")
    write("natpmp", "external_address", rec(0, ext))
    write("natpmp", "map_udp", rec(0, map_udp))
    write("natpmp", "map_refresh_delete",
          rec(0, map_udp) + rec(8, map_udp) + rec(0, del_udp))
    write("natpmp", "map_tcp_via_engine", rec(1, map_tcp) + rec(1, ext))
    write("natpmp", "two_clients_delete_all",
          rec(0, map_udp) + rec(2, map_udp) + rec(0, del_all))
    write("natpmp", "bad_opcode", rec(0, bytes.fromhex("0007")))


def pcp_header(op, lifetime, client="10.77.0.2"):
    return bytes([2, op, 0, 0]) + struct.pack("!I", lifetime) + \
        b"\0" * 10 + b"\xff\xff" + ip4(client)


def mapped(addr):
    return b"\0" * 10 + b"\xff\xff" + ip4(addr)


def pcp():
    nonce = bytes(range(1, 13))
    map_data = nonce + bytes([17, 0, 0, 0]) + struct.pack("!HH", 4000, 4000) \
        + mapped("0.0.0.0")
    mp = pcp_header(1, 3600) + map_data
    write("pcp", "map_udp", rec(0, mp))
    write("pcp", "map_delete", rec(0, mp) + rec(0, pcp_header(1, 0) + map_data))
    prefer = bytes([2, 0, 0, 0])
    filt = bytes([3, 0, 0, 20]) + bytes([0, 128]) + struct.pack("!H", 9) + \
        mapped("203.0.113.2")
    write("pcp", "map_prefer_failure_filter", rec(0, mp + prefer + filt))
    third = bytes([1, 0, 0, 16]) + mapped("10.77.0.3")
    write("pcp", "map_third_party_via_engine", rec(1, mp + third))
    peer = pcp_header(2, 600) + nonce + bytes([6, 0, 0, 0]) + \
        struct.pack("!HH", 40000, 0) + mapped("0.0.0.0") + \
        struct.pack("!HH", 80, 0) + mapped("203.0.113.2")
    write("pcp", "peer_tcp", rec(0, peer))
    write("pcp", "announce_unknown_option",
          rec(0, pcp_header(0, 0)) +
          rec(0, mp + bytes([0x80, 0, 0, 4]) + b"abcd"))
    other_nonce = bytes(12) + map_data[12:]
    write("pcp", "wrong_nonce_delete",
          rec(0, mp) + rec(0, pcp_header(1, 0) + other_nonce))


def ssdp():
    def search(st, mx=b"2"):
        return (b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
                b'MAN: "ssdp:discover"\r\nMX: ' + mx + b"\r\nST: " + st +
                b"\r\n\r\n")
    write("ssdp", "all_unicast", rec(0, search(b"ssdp:all")))
    write("ssdp", "rootdevice_multicast",
          rec(2, search(b"upnp:rootdevice")) + rec(4, b""))
    write("ssdp", "igd2_via_engine", rec(1, search(
        b"urn:schemas-upnp-org:device:InternetGatewayDevice:2", b"1")))
    write("ssdp", "wanip1", rec(2, search(
        b"urn:schemas-upnp-org:service:WANIPConnection:1", b"5")) +
        rec(4, b""))
    write("ssdp", "notify_from_other",
          rec(0, b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
              b"NT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n"
              b"USN: uuid:x::upnp:rootdevice\r\n\r\n"))


SOAP_NS = "urn:schemas-upnp-org:service:WANIPConnection:2"


def soap(action, args, service=SOAP_NS):
    body = "".join("<%s>%s</%s>" % (k, v, k) for k, v in args)
    return ('<?xml version="1.0"?>\r\n<s:Envelope xmlns:s='
            '"http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle='
            '"http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:%s '
            'xmlns:u="%s">%s</u:%s></s:Body></s:Envelope>' %
            (action, service, body, action)).encode()


ADD = [("NewRemoteHost", ""), ("NewExternalPort", "8080"),
       ("NewProtocol", "TCP"), ("NewInternalPort", "80"),
       ("NewInternalClient", "10.77.0.2"), ("NewEnabled", "1"),
       ("NewPortMappingDescription", "fuzz"), ("NewLeaseDuration", "3600")]


def http():
    def post(path, action, body, service=SOAP_NS):
        return (b"POST " + path + b" HTTP/1.1\r\nHOST: 10.77.0.1:5000\r\n"
                b'CONTENT-TYPE: text/xml; charset="utf-8"\r\n'
                b'SOAPACTION: "' + service.encode() + b"#" + action.encode() +
                b'"\r\nCONTENT-LENGTH: ' + str(len(body)).encode() +
                b"\r\n\r\n" + body)
    write("http", "get_root_desc",
          b"\x00GET /rootDesc.xml HTTP/1.1\r\nHost: 10.77.0.1:5000\r\n\r\n")
    write("http", "get_scpd",
          b"\x00GET /WANIPCn.xml HTTP/1.1\r\nHost: 10.77.0.1:5000\r\n\r\n")
    write("http", "post_add_port_mapping",
          b"\x00" + post(b"/ctl/IPConn", "AddPortMapping",
                         soap("AddPortMapping", ADD)))
    write("http", "post_get_external",
          b"\x00" + post(b"/ctl/IPConn", "GetExternalIPAddress",
                         soap("GetExternalIPAddress", [])))
    write("http", "subscribe",
          b"\x00SUBSCRIBE /evt/IPConn HTTP/1.1\r\nHOST: 10.77.0.1:5000\r\n"
          b"CALLBACK: <http://10.77.0.2:49000/evt>\r\nNT: upnp:event\r\n"
          b"TIMEOUT: Second-300\r\n\r\n")

    def direct(action, args, path=0):
        a = ('"%s#%s"' % (SOAP_NS, action)).encode()
        return b"\x01" + struct.pack("!H", len(a)) + a + bytes([path]) + \
            soap(action, args)
    write("http", "soap_add_any",
          direct("AddAnyPortMapping", ADD))
    write("http", "soap_delete",
          direct("DeletePortMapping", [("NewRemoteHost", ""),
                                       ("NewExternalPort", "8080"),
                                       ("NewProtocol", "TCP")]))
    write("http", "soap_generic_entry",
          direct("GetGenericPortMappingEntry",
                 [("NewPortMappingIndex", "0")]))
    write("http", "soap_list",
          direct("GetListOfPortMappings",
                 [("NewStartPort", "1"), ("NewEndPort", "65535"),
                  ("NewProtocol", "TCP"), ("NewManage", "1"),
                  ("NewNumberOfPorts", "10")]))


def gena():
    def text(op, t):
        return rec(op, t)
    sub = (b"SUBSCRIBE /evt/IPConn HTTP/1.1\r\nHOST: 10.77.0.1:5000\r\n"
           b"CALLBACK: <http://10.77.0.2:49000/evt>\r\nNT: upnp:event\r\n"
           b"TIMEOUT: Second-300\r\n\r\n")
    write("gena", "subscribe_event_deliver",
          text(0, sub) + text(5, b"\x01") +
          text(4, b"ExternalIPAddress=203.0.113.9\n") + text(5, b"\x00"))
    write("gena", "subscribe_expire",
          text(0, sub) + text(6 | (31 << 3), b"") + text(5, b"\x01"))
    write("gena", "callbacks",
          text(3, b"<http://10.77.0.2:49000/a><http://10.77.0.9/b>"
               b"<http://10.77.0.2/c>"))
    write("gena", "unsubscribe_unknown",
          text(0, b"UNSUBSCRIBE /evt/IPConn HTTP/1.1\r\nHOST: 10.77.0.1\r\n"
               b"SID: uuid:nobody\r\n\r\n"))
    write("gena", "renew_bad",
          text(0, b"SUBSCRIBE /evt/IPConn HTTP/1.1\r\nHOST: 10.77.0.1\r\n"
               b"SID: uuid:x\r\nNT: upnp:event\r\n\r\n"))


def ftp():
    write("ftp", "port", rec(1, b"220 hi\r\n") + rec(0, b"USER a\r\n") +
          rec(0, b"PORT 10,77,0,2,156,65\r\n") + rec(1, b"200 ok\r\n") +
          rec(8, b""))
    write("ftp", "eprt", rec(0, b"EPRT |1|10.77.0.2|40002|\r\n") +
          rec(0, b"LIST\r\n"))
    write("ftp", "pasv_split", rec(0, b"PASV\r\n") +
          rec(1, b"227 Entering Passive Mode (203,0,1") +
          rec(1, b"13,2,19,137)\r\n"))
    write("ftp", "epsv", rec(0, b"EPSV\r\n") +
          rec(1, b"229 Entering Extended Passive Mode (|||5001|)\r\n"))
    write("ftp", "eprt_ipv6", rec(0, b"EPRT |2|::1|40003|\r\n"))


def irc():
    me = str(0x0A4D0002).encode()
    write("irc", "dcc_send",
          rec(0, b"PRIVMSG bob :\x01DCC SEND file.txt " + me +
              b" 5000 1234\x01\r\n") + rec(8, b""))
    write("irc", "dcc_chat",
          rec(0, b"PRIVMSG bob :\x01DCC CHAT chat " + me + b" 5001\x01\r\n"))
    write("irc", "dcc_resume_accept",
          rec(0, b"PRIVMSG bob :\x01DCC SEND f " + me + b" 5002 99\x01\r\n") +
          rec(1, b":bob!b@h PRIVMSG me :\x01DCC RESUME f 5002 10\x01\r\n") +
          rec(0, b"PRIVMSG bob :\x01DCC ACCEPT f 5002 10\x01\r\n"))
    write("irc", "passive_tags",
          rec(0, b"@time=x PRIVMSG bob :\x01DCC SEND \"a b\" " + me +
              b" 0 5 77\x01\r\n"))
    write("irc", "server_lines",
          rec(1, b":srv 001 me :Welcome\r\n:srv PING :x\r\n") +
          rec(0, b"PONG :x\r\n"))


def tftp():
    rrq = b"\x00\x01file.bin\x00octet\x00"
    wrq = b"\x00\x02up.bin\x00netascii\x00blksize\x001024\x00"
    data = b"\x00\x03\x00\x01" + b"d" * 512
    ack = b"\x00\x04\x00\x01"
    err = b"\x00\x05\x00\x01not found\x00"
    write("tftp", "rrq_data_new_port",
          rec(0, rrq) + rec(0x03 | (5 << 4), data) + rec(0, ack))
    write("tftp", "wrq_options", rec(0, wrq) + rec(8, ack))
    write("tftp", "error", rec(0, rrq) + rec(0x03, err))
    write("tftp", "malformed", rec(0, b"\x00\x01nofilename"))


def pptp():
    lengths = {1: 156, 2: 156, 3: 16, 4: 16, 5: 16, 6: 20, 7: 168, 8: 32,
               9: 220, 10: 24, 11: 28, 12: 16, 13: 148, 14: 40, 15: 24}

    def msg(t, fields=(), result=None):
        m = bytearray(lengths[t])
        struct.pack_into("!HHIH", m, 0, len(m), 1, 0x1A2B3C4D, t)
        for at, v in fields:
            struct.pack_into("!H", m, at, v)
        if result is not None:
            m[16] = result
        return bytes(m)
    ocrq = msg(7, [(12, 0x1234)])
    write("pptp", "outgoing_call",
          rec(0, msg(1)) + rec(1, msg(2)) + rec(0, ocrq) +
          rec(1, msg(8, [(12, 0x77), (14, 0x1234)], 1)) +
          rec(1, msg(15, [(12, 0x1234)])) + rec(0, msg(12, [(12, 0x1234)])) +
          rec(1, msg(13, [(12, 0x77)])))
    write("pptp", "split_call_id",
          rec(0, ocrq[:13]) + rec(0, ocrq[13:]) +
          rec(1, msg(8, [(12, 0x77), (14, 0x1234)], 1)[:15]) +
          rec(1, msg(8, [(12, 0x77), (14, 0x1234)], 1)[15:]))
    write("pptp", "incoming_call",
          rec(1, msg(9, [(12, 0x55)])) +
          rec(0, msg(10, [(12, 0x99), (14, 0x55)], 1)) +
          rec(1, msg(11, [(12, 0x99)])) + rec(1, msg(14, [(12, 0x99)])) +
          rec(0, msg(3)) + rec(1, msg(4)))
    write("pptp", "malformed", rec(0, ocrq[:4] + b"\0\0\0\0" + ocrq[8:]) +
          rec(1, msg(8, [(12, 1), (14, 2)], 1)[:20]))


def sip():
    sdp = (b"v=0\r\no=a 1 1 IN IP4 10.77.0.2\r\ns=-\r\nc=IN IP4 10.77.0.2\r\n"
           b"t=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=rtcp:49171 IN IP4 10.77.0.2\r\n"
           b"m=video 51372/2 RTP/AVP 31\r\nc=IN IP4 10.77.0.20/127\r\n")
    invite = (b"INVITE sip:bob@198.51.100.2 SIP/2.0\r\n"
              b"Via: SIP/2.0/UDP 10.77.0.2:5060;branch=z9hG4bK1;rport\r\n"
              b"From: <sip:alice@10.77.0.2>;tag=1\r\nTo: <sip:bob@198.51.100.2>\r\n"
              b"Call-ID: x@10.77.0.2\r\nCSeq: 1 INVITE\r\n"
              b"Contact: <sip:alice@10.77.0.2:5060>\r\n"
              b"Content-Type: application/sdp\r\nContent-Length: " +
              str(len(sdp)).encode() + b"\r\n\r\n" + sdp)
    write("sip", "invite_udp", b"\x00" + invite)
    write("sip", "invite_tcp_two", b"\x01" + invite +
          b"SIP/2.0 200 OK\r\nv: SIP/2.0/TCP 10.77.0.2\r\n ;branch=z\r\nl: 0\r\n\r\n")
    # The ALG target: records of flags(1) length(2) payload.
    sip_alg = invite[invite.index(b"INVITE"):]
    write("sip_alg", "invite_and_answer", rec(0, sip_alg) + rec(1,
          b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK1\r\n"
          b"Content-Length: 0\r\n\r\n") + rec(8, b"rtp"))
    tcp_invite = invite.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
    cut = len(tcp_invite) // 2
    write("sip_tcp", "two_and_a_cut", rec(0, tcp_invite + b"\r\n\r\n" +
          tcp_invite[:cut]) + rec(0, tcp_invite[cut:] + tcp_invite) +
          rec(1, b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 203.0.113.1:5060;"
              b"branch=z9hG4bK1\r\nCSeq: 1 INVITE\r\nCall-ID: x@10.77.0.2\r\n"
              b"Content-Length: 0\r\n\r\n") + rec(8, b"rtp"))
    write("sip", "compact_register", b"\x00REGISTER sip:reg.example SIP/2.0\r\n"
          b"v: SIP/2.0/UDP 10.77.0.2:5060\r\nm: <sip:a@10.77.0.2>;expires=3600\r\n"
          b"f: <sip:a@reg.example>\r\nt: <sip:a@reg.example>\r\ni: 1\r\nl: 0\r\n\r\n")


def per():
    # Programs for the PER fuzzer: 4 bits lb, 5 bits log2 size, 4 bits op,
    # then the operand's bits (see per_fuzz.cc).
    write("per", "constrained_port", bytes([0x07, 0x80, 0x06, 0xb8]))
    write("per", "lengths_and_open", bytes([0x00, 0x18, 0x05, 0x41, 0x02,
                                            0x11, 0x22, 0x00, 0x60, 0x02]))
    write("per", "nesting", bytes([0x00, 0x68]) * 12 + bytes([0x00, 0x70]))


def h323():
    # The tshark-checked vectors of tests/h323/ (tests/helpers/testdata/):
    # for h323_fuzz.cc a selector octet (0 Q.931, 1 RAS, 2 H.245) and the
    # message without its TPKT header; for h323_alg (alg_fuzz.h records)
    # the call signalling messages as the client sends them, the first
    # also split in two.
    vec = os.path.join(HERE, "..", "helpers", "testdata", "h323")
    kinds = {}
    with open(os.path.join(vec, "manifest.txt")) as m:
        for line in m:
            name, kind = line.split()[:2]
            kinds[name] = kind
    for name, kind in sorted(kinds.items()):
        with open(os.path.join(vec, name + ".bin"), "rb") as f:
            data = f.read()
        sel = {"q931": 0, "ras": 1, "h245": 2}[kind]
        write("h323", name, bytes([sel]) + (data if kind == "ras" else data[4:]))
        if kind == "q931":
            write("h323_alg", name, rec(0, data))
    with open(os.path.join(vec, "setup_faststart.bin"), "rb") as f:
        setup = f.read()
    write("h323_alg", "split_setup", rec(0, setup[:40]) + rec(0, setup[40:]))


def coalesce():
    # mode (bit 0 TCP super-packets, bit 1 UDP, bit 2 refused), then ctl(1)
    # + record: ctl 7 = IP header, L4 length and checksum made right, SEQ
    # and ID following the flow's last; 15 also starts a new batch.
    seg = lambda i, flags=0x10: ipv4(
        "10.77.0.2", "203.0.113.2", 6,
        tcp(40000, 80, 1 + 100 * i, 5, flags, bytes([i]) * 100), ident=9 + i)
    dgram = lambda i: ipv4("10.77.0.2", "203.0.113.2", 17,
                           udp(5000, 5201, bytes([i]) * 36), ident=3 + i)
    def recs(pkts, ctl=7):
        return b"".join(bytes([ctl]) + struct.pack("!H", len(p)) + p
                        for p in pkts)
    write("coalesce", "tcp_run",
          b"\x03" + recs([seg(i) for i in range(6)] + [seg(6, 0x18)]))
    write("coalesce", "udp_run", b"\x03" + recs([dgram(i) for i in range(8)]))
    write("coalesce", "refused", b"\x07" + recs([seg(i) for i in range(4)]))
    write("coalesce", "mixed", b"\x03" + recs(
        [seg(0), dgram(0), seg(1), dgram(1)]) + recs([seg(2)], 15))


if __name__ == "__main__":
    for f in (packet, fragment, natpmp, pcp, ssdp, http, gena, ftp, irc,
              tftp, pptp, sip, per, h323, coalesce):
        f()
