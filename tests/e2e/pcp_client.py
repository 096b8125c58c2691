#!/usr/bin/python3
"""A small PCP (RFC 6887) client for the e2e tests: no PCP client is packaged
for Debian. Sends one request to SERVER:5351 and prints the answer as JSON
(one line), or exits 3 when nothing comes back.

  pcp_client.py SERVER map  --proto tcp --internal 80 [--external 8080]
                [--lifetime 3600] [--nonce HEX24] [--client IP]
                [--ext-addr IP] [--prefer-failure] [--third-party IP]
                [--filter IP/PREFIX:PORT]... [--option CODE:HEX]...
  pcp_client.py SERVER peer --proto udp --internal 5000 --remote IP:PORT ...
  pcp_client.py SERVER announce [--client IP]
  pcp_client.py SERVER raw HEX          (any bytes, e.g. malformed requests)
  pcp_client.py SERVER flood N          (N ANNOUNCEs, prints how many answered)
"""
import argparse
import ipaddress
import json
import socket
import struct
import sys

RESULTS = [
    "SUCCESS", "UNSUPP_VERSION", "NOT_AUTHORIZED", "MALFORMED_REQUEST",
    "UNSUPP_OPCODE", "UNSUPP_OPTION", "MALFORMED_OPTION", "NETWORK_FAILURE",
    "NO_RESOURCES", "UNSUPP_PROTOCOL", "USER_EX_QUOTA",
    "CANNOT_PROVIDE_EXTERNAL", "ADDRESS_MISMATCH", "EXCESSIVE_REMOTE_PEERS",
]
PROTOS = {"tcp": 6, "udp": 17}


def mapped(ip):
    if not ip:
        return bytes(16)
    return bytes(10) + b"\xff\xff" + ipaddress.IPv4Address(ip).packed


def unmapped(b):
    if b[:12] == bytes(10) + b"\xff\xff":
        return str(ipaddress.IPv4Address(b[12:16]))
    if b == bytes(16):
        return ""
    return str(ipaddress.IPv6Address(b))


def option(code, data):
    pad = (4 - len(data) % 4) % 4
    return struct.pack("!BBH", code, 0, len(data)) + data + bytes(pad)


def own_address(server):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((server, 5351))
    addr = s.getsockname()[0]
    s.close()
    return addr


def exchange(server, payload, timeout=1.0, tries=2):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.connect((server, 5351))
    for _ in range(tries):
        s.send(payload)
        try:
            return s.recv(2048)
        except socket.timeout:
            continue
    return None


def decode(resp, request_opcode):
    out = {"size": len(resp), "hex": resp.hex()}
    if len(resp) < 24:
        return out
    ver, rop, _, result, lifetime, epoch = struct.unpack("!BBBBII", resp[:12])
    out.update(version=ver, r=rop >> 7, opcode=rop & 0x7F, result=result,
               result_name=RESULTS[result] if result < len(RESULTS) else "?",
               lifetime=lifetime, epoch=epoch)
    body = resp[24:]
    opcode = rop & 0x7F
    if opcode in (1, 2) and len(body) >= 36:
        out.update(nonce=body[:12].hex(), protocol=body[12],
                   internal_port=struct.unpack("!H", body[16:18])[0],
                   external_port=struct.unpack("!H", body[18:20])[0],
                   external_address=unmapped(body[20:36]))
        rest = body[36:]
        if opcode == 2 and len(body) >= 56:
            out.update(remote_port=struct.unpack("!H", body[36:38])[0],
                       remote_address=unmapped(body[40:56]))
            rest = body[56:]
        opts = []
        while len(rest) >= 4:
            code, _, length = struct.unpack("!BBH", rest[:4])
            opts.append(code)
            rest = rest[4 + ((length + 3) & ~3):]
        out["options"] = opts
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("server")
    p.add_argument("op", choices=["map", "peer", "announce", "raw", "flood"])
    p.add_argument("arg", nargs="?")
    p.add_argument("--proto", default="tcp")
    p.add_argument("--internal", type=int, default=0)
    p.add_argument("--external", type=int, default=0)
    p.add_argument("--ext-addr", default="")
    p.add_argument("--lifetime", type=int, default=3600)
    p.add_argument("--nonce", default="0102030405060708090a0b0c")
    p.add_argument("--client", default="")
    p.add_argument("--remote", default="")
    p.add_argument("--prefer-failure", action="store_true")
    p.add_argument("--third-party", default="")
    p.add_argument("--filter", action="append", default=[])
    p.add_argument("--option", action="append", default=[])
    a = p.parse_args()

    if a.op == "raw":
        resp = exchange(a.server, bytes.fromhex(a.arg))
        if resp is None:
            print(json.dumps({"answer": None}))
            sys.exit(3)
        print(json.dumps(decode(resp, None)))
        return
    client = a.client or own_address(a.server)
    if a.op == "flood":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.5)
        s.connect((a.server, 5351))
        req = struct.pack("!BBHI", 2, 0, 0, 0) + mapped(client)
        for _ in range(int(a.arg)):
            s.send(req)
        answered = 0
        try:
            while True:
                s.recv(2048)
                answered += 1
        except socket.timeout:
            pass
        print(json.dumps({"sent": int(a.arg), "answered": answered}))
        return
    opcode = {"announce": 0, "map": 1, "peer": 2}[a.op]
    lifetime = 0 if a.op == "announce" else a.lifetime
    req = struct.pack("!BBHI", 2, opcode, 0, lifetime) + mapped(client)
    if opcode in (1, 2):
        proto = PROTOS.get(a.proto)
        if proto is None:
            proto = int(a.proto)
        req += bytes.fromhex(a.nonce) + struct.pack("!B3xHH", proto, a.internal,
                                                    a.external)
        req += mapped(a.ext_addr)
        if opcode == 2:
            rip, rport = a.remote.rsplit(":", 1)
            req += struct.pack("!H2x", int(rport)) + mapped(rip)
    if a.third_party:
        req += option(1, mapped(a.third_party))
    if a.prefer_failure:
        req += option(2, b"")
    for f in a.filter:
        net, port = f.rsplit(":", 1)
        ip, prefix = net.split("/")
        req += option(3, struct.pack("!BBH", 0, int(prefix), int(port)) + mapped(ip))
    for o in a.option:
        code, data = o.split(":", 1)
        req += option(int(code), bytes.fromhex(data))
    resp = exchange(a.server, req)
    if resp is None:
        print(json.dumps({"answer": None}))
        sys.exit(3)
    print(json.dumps(decode(resp, opcode)))


if __name__ == "__main__":
    main()
