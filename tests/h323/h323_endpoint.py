#!/usr/bin/python3
"""Scripted H.323 endpoints for the end-to-end tests through the NAT.

  h323_endpoint.py callee --listen IP [--port 1720] --rtp-port N
                          [--timeout S] [--allow-changes]
  h323_endpoint.py caller --connect IP [--port 1720] --local IP
                          --h245-port H --rtp-port R [--signal-port 1720]
                          [--timeout S] [--allow-changes] [--split N]
  h323_endpoint.py gk --listen IP [--port 1719] [--timeout S]
  h323_endpoint.py register --gk IP [--gk-port 1719] --local IP
                            --signal-port P [--ras-port 0] [--timeout S]

Every message is built by h323enc; what arrives is read back with
h323enc.extract (addresses at their offsets, everything else compared
exactly), so the addresses may have been rewritten on the way. Each
received message prints one JSON line (stdout, flushed); the last line is
{"event": "summary", ...}. Exit 0 when all that was expected arrived, 1
with the reason on stderr otherwise (or at --timeout); a message whose
non-address bytes differ from what was sent fails it too unless
--allow-changes.

callee: accepts one call: Setup (fastStart forward + reverse) -> replies
CallProceeding, Alerting, Connect (fastStart: the forward channel's
mediaChannel IP:N, mediaControlChannel IP:N+1); connects to the Setup's
h245Address, sends its OLC (mediaControlChannel IP:N+1), answers the
caller's OLC with an OLCAck naming IP:N+2 / IP:N+3 and waits for the ack
of its own. Then sends 20 RTP from N to the Setup's reverse mediaChannel,
5 RTCP from N+1 to its mediaControlChannel, 20 RTP from N to the
mediaChannel of the caller's OLCAck; needs >= 15 RTP on N.

caller: listens on H, sends Setup (h245Address local:H,
sourceCallSignalAddress local:--signal-port, destCallSignalAddress
--connect:--port, fastStart: forward with mediaControlChannel local:R+1,
reverse with mediaChannel local:R, mediaControlChannel local:R+1), reads
the replies up to Connect, accepts the callee's H.245 connection, sends a
MasterSlaveDetermination (to be ignored) and its OLC (mediaControlChannel
local:R+3), answers the callee's OLC with an OLCAck naming local:R+2 /
R+3, sends 20 RTP from R to the Connect's fastStart mediaChannel; needs
>= 15 RTP on R and on R+2 and >= 1 RTCP on R+1. Ends with
ReleaseComplete.

gk / register: register sends RRQ (callSignalAddress local:P, rasAddress
local:its RAS port) until an RCF; gk answers RCF (timeToLive 60), prints
what it received, then calls the received callSignalAddress with a Setup;
register accepts on P, reads the Setup, answers ReleaseComplete."""
import argparse
import json
import os
import select
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h323enc as h  # noqa: E402

P = ("0.0.0.0", 0)                     # placeholder (extract replaces it)
SPLIT = 0                              # --split: piece size (0: whole)
# --h245-by-callee: the Setup names no H.245 address; the callee's Connect
# names its own (listen:N+10) and the caller connects there.
BY_CALLEE = False
CRV = 0x1234
RTP_COUNT, RTP_NEED, RTCP_COUNT = 20, 15, 5


class Fail(Exception):
    pass


def emit(**kw):
    print(json.dumps(kw), flush=True)


def pair(a):
    return [a[0], a[1]] if a else None


# ------------------------------------------------- agreed message options

def fwd(lcn, media=None, control=None):
    return dict(lcn=lcn, direction="forward", codec="g711Ulaw64k",
                media=media, control=control)


def rev(lcn, media=None, control=None):
    return dict(lcn=lcn, direction="reverse", codec="g711Ulaw64k",
                media=media, control=control)


def setup_kw(h245=P, dest=P, src=P, rtp=P, rtcp=P):
    return dict(crv=CRV, h245=None if BY_CALLEE else h245, dest_csa=dest,
                src_csa=src,
                fast_start=[fwd(1, control=rtcp),
                            rev(2, media=rtp, control=rtcp)])


def connect_kw(rtp=P, rtcp=P, h245=P):
    return dict(crv=CRV, fast_start=[fwd(1, media=rtp, control=rtcp)],
                h245=h245 if BY_CALLEE else None)


def caller_olc_kw(rtcp=P):
    return dict(lcn=1, control=rtcp)


def callee_olc_kw(rtcp=P):
    return dict(lcn=2, control=rtcp)


def olcack_kw(lcn, rtp=P, rtcp=P):
    return dict(lcn=lcn, media=rtp, control=rtcp)


def rrq_kw(csa=P, ras=P):
    return dict(seq=1, csa=[csa], ras=[ras])


def rcf_kw(csa=P):
    return dict(seq=1, csa=[csa], ttl=60)


def gk_setup_kw(dest=P, src=P):
    return dict(crv=0x0777, dest_csa=dest, src_csa=src)


# ------------------------------------------------------------- transport

class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self, what):
        t = self.end - time.monotonic()
        if t <= 0:
            raise Fail("timeout waiting for " + what)
        return t


class Stream:
    """TPKT messages over a TCP connection."""

    def __init__(self, sock):
        self.sock = sock
        self.reader = h.TpktReader()
        self.queue = []

    def send(self, data):
        if not SPLIT:
            self.sock.sendall(data)
            return
        # --split N: each message as two segments, its first N octets and
        # the rest (no Nagle, a pause between), as a stack that sends the
        # TPKT header apart (N = 4) or a cut inside the message would.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(data[:SPLIT])
        time.sleep(0.03)
        self.sock.sendall(data[SPLIT:])

    def recv(self, dl, what):
        while not self.queue:
            self.sock.settimeout(dl.left(what))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise Fail("timeout waiting for " + what)
            if not data:
                raise Fail("connection closed waiting for " + what)
            self.queue += self.reader.feed(data)
        return self.queue.pop(0)


def accept(listener, dl, what):
    listener.settimeout(dl.left(what))
    try:
        s, _ = listener.accept()
    except socket.timeout:
        raise Fail("timeout waiting for " + what)
    return Stream(s)


def connect(local_ip, dst, dl, what):
    """TCP from local_ip to dst, retried while refused (a peer that is
    still starting) until the deadline."""
    while True:
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.bind((local_ip, 0))
        c.settimeout(dl.left(what))
        try:
            c.connect(tuple(dst))
            return Stream(c)
        except ConnectionRefusedError:
            c.close()
            time.sleep(min(0.2, dl.left(what)))
        except socket.timeout:
            raise Fail("timeout waiting for " + what)


def udp(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, port))
    return s


def listen(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port))
    s.listen(4)
    return s


class Counter(threading.Thread):
    """Counts RTP-looking (version 2, PT < 200) and RTCP-looking (PT
    200..204) datagrams arriving on a socket."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock, self.rtp, self.rtcp, self.other = sock, 0, 0, 0
        self.sources = set()
        self.stop = threading.Event()
        self.start()

    def run(self):
        while not self.stop.is_set():
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if not r:
                continue
            try:
                data, src = self.sock.recvfrom(2048)
            except OSError:
                continue
            self.sources.add("%s:%d" % src)
            if len(data) >= 8 and data[0] >> 6 == 2:
                if 200 <= data[1] <= 204:
                    self.rtcp += 1
                elif len(data) >= 12:
                    self.rtp += 1
                else:
                    self.other += 1
            else:
                self.other += 1


def send_rtp(sock, dst, n, ssrc):
    for i in range(n):                 # V=2, PT 0 (PCMU), seq, ts, ssrc
        hdr = struct.pack(">BBHII", 0x80, 0, i + 1, 160 * i, ssrc)
        sock.sendto(hdr + b"\xff" * 160, tuple(dst))
        time.sleep(0.01)


def send_rtcp(sock, dst, n, ssrc):
    for i in range(n):                 # sender report: V=2, PT 200, len 6
        pkt = struct.pack(">BBHIIIIII", 0x80, 200, 6, ssrc, 0, i, 160 * i,
                          i, 160 * i)
        sock.sendto(pkt, tuple(dst))
        time.sleep(0.01)


def wait_for(cond, dl):
    while not cond():
        if time.monotonic() >= dl.end:
            return False
        time.sleep(0.05)
    return True


class Endpoint:
    def __init__(self, args):
        self.args = args
        self.dl = Deadline(args.timeout)
        self.changed = []

    def read(self, event, builder, kw, data, quiet=False, **extra):
        """extract + one event line (unless quiet): every address by its
        field name; returns {field: (ip, port)}."""
        addrs, same = h.extract(builder, kw, data)
        if not same:
            self.changed.append(event)
        out = {a["field"]: (a["ip"], a["port"]) for a in addrs}
        if not quiet:
            emit(event=event, **extra,
                 **{k: pair(v) for k, v in out.items()}, same_otherwise=same)
        return out

    def finish(self, ok, why, **summary):
        if ok and self.changed and not self.args.allow_changes:
            ok, why = False, "bytes other than addresses changed in: " + \
                ", ".join(self.changed)
        emit(event="summary", ok=ok, **summary)
        if not ok:
            print("%s: %s" % (self.args.role, why), file=sys.stderr)
        return 0 if ok else 1


# ------------------------------------------------------------------ H.245

def h245_exchange(ep, stream, my_olc_lcn, ack_kw_for_peer):
    """Reads H.245 until the peer's OLC was answered and our OLC acked.
    Returns (peer_olc_addrs, ack_addrs)."""
    peer_olc = ack = None
    while peer_olc is None or ack is None:
        msg = stream.recv(ep.dl, "H.245 OLC/OLCAck")
        kind = h.h245_kind(msg[4:])
        if kind == h.H245_OLC and peer_olc is None:
            kw = callee_olc_kw() if my_olc_lcn == 1 else caller_olc_kw()
            peer_olc = ep.read("h245_olc", h.build_h245_olc, kw, msg)
            stream.send(h.build_h245_olcack(**ack_kw_for_peer)[0])
        elif kind == h.H245_OLCACK and ack is None:
            ack = ep.read("h245_olcack", h.build_h245_olcack,
                          olcack_kw(my_olc_lcn), msg)
        else:
            emit(event="h245_other", kind=list(kind), length=len(msg))
    return peer_olc, ack


# ----------------------------------------------------------------- callee

def callee(ep):
    a = ep.args
    me, n = a.listen, a.rtp_port
    socks = [udp(me, n + i) for i in range(4)]
    counters = [Counter(s) for s in socks]
    lst = listen(me, a.port)
    try:
        q = accept(lst, ep.dl, "the call")
        while True:
            msg = q.recv(ep.dl, "Setup")
            if h.q931_type(msg) == h.Q931["setup"]:
                break
            emit(event="q931_other", type=h.q931_type(msg))
        s = ep.read("setup", h.build_setup, setup_kw(), msg, quiet=True)
        fs = [{"mediaChannel": pair(s.get("fastStart[%d].mediaChannel" % i)),
               "mediaControlChannel":
               pair(s.get("fastStart[%d].mediaControlChannel" % i))}
              for i in range(2)]
        emit(event="setup", h245Address=pair(s.get("h245Address")),
             sourceCallSignalAddress=pair(s.get("sourceCallSignalAddress")),
             destCallSignalAddress=pair(s.get("destCallSignalAddress")),
             fastStart=fs, same_otherwise="setup" not in ep.changed)
        q.send(h.build_call_proceeding(crv=CRV)[0])
        q.send(h.build_alerting(crv=CRV)[0])
        hl = listen(me, n + 10) if BY_CALLEE else None
        q.send(h.build_connect(**connect_kw((me, n), (me, n + 1),
                                            (me, n + 10)))[0])
        if BY_CALLEE:
            hs = accept(hl, ep.dl, "the H.245 connection")
        else:
            hs = connect(me, s["h245Address"], ep.dl, "the H.245 connection")
        hs.send(h.build_h245_olc(**callee_olc_kw((me, n + 1)))[0])
        _, ack = h245_exchange(ep, hs, 2,
                               olcack_kw(1, (me, n + 2), (me, n + 3)))

        rtp_dst = s["fastStart[1].mediaChannel"]
        rtcp_dst = s["fastStart[1].mediaControlChannel"]
        send_rtp(socks[0], rtp_dst, RTP_COUNT, 0x11110001)
        send_rtcp(socks[1], rtcp_dst, RTCP_COUNT, 0x11110001)
        send_rtp(socks[0], ack["mediaChannel"], RTP_COUNT, 0x11110002)
        got = wait_for(lambda: counters[0].rtp >= RTP_NEED, ep.dl)
        summary = dict(rtp_received=counters[0].rtp,
                       rtp_sources=sorted(counters[0].sources),
                       rtp_sent={"%s:%d" % tuple(rtp_dst): RTP_COUNT,
                                 "%s:%d" % tuple(ack["mediaChannel"]):
                                 RTP_COUNT},
                       rtcp_sent={"%s:%d" % tuple(rtcp_dst): RTCP_COUNT})
        # the caller ends the call; wait briefly for its ReleaseComplete
        try:
            msg = q.recv(Deadline(min(2.0, max(0.1, ep.dl.end -
                                                time.monotonic()))),
                         "ReleaseComplete")
            emit(event="q931", type=h.q931_type(msg))
        except Fail:
            pass
        if not got:
            return ep.finish(False, "only %d RTP on %s:%d" %
                             (counters[0].rtp, me, n), **summary)
        return ep.finish(True, "", **summary)
    finally:
        for k in counters:
            k.stop.set()


# ----------------------------------------------------------------- caller

def caller(ep):
    a = ep.args
    me, r = a.local, a.rtp_port
    socks = [udp(me, r + i) for i in range(4)]
    counters = [Counter(s) for s in socks]
    lst = None if BY_CALLEE else listen(me, a.h245_port)
    try:
        q = connect(me, (a.connect, a.port), ep.dl, "the callee")
        q.send(h.build_setup(**setup_kw(
            (me, a.h245_port), (a.connect, a.port), (me, a.signal_port),
            (me, r), (me, r + 1)))[0])
        replies = {h.Q931["callProceeding"]: ("callProceeding",
                                              h.build_call_proceeding),
                   h.Q931["alerting"]: ("alerting", h.build_alerting)}
        while True:
            msg = q.recv(ep.dl, "Connect")
            t = h.q931_type(msg)
            if t == h.Q931["connect"]:
                break
            if t in replies:
                ep.read(replies[t][0], replies[t][1], dict(crv=CRV), msg)
            else:
                emit(event="q931_other", type=t)
        con = ep.read("connect", h.build_connect, connect_kw(), msg)
        media = con["fastStart[0].mediaChannel"]

        if BY_CALLEE:
            hs = connect(me, con["h245Address"], ep.dl,
                         "the callee's H.245 address")
        else:
            hs = accept(lst, ep.dl, "the H.245 connection")
        hs.send(h.build_h245_msd()[0])
        hs.send(h.build_h245_olc(**caller_olc_kw((me, r + 3)))[0])
        h245_exchange(ep, hs, 1, olcack_kw(2, (me, r + 2), (me, r + 3)))

        send_rtp(socks[0], media, RTP_COUNT, 0x22220001)
        ok = wait_for(lambda: counters[0].rtp >= RTP_NEED and
                      counters[2].rtp >= RTP_NEED and
                      counters[1].rtcp >= 1, ep.dl)
        if ok:                         # let the stragglers in (<= 1 s)
            wait_for(lambda: counters[0].rtp >= RTP_COUNT and
                     counters[2].rtp >= RTP_COUNT and
                     counters[1].rtcp >= RTCP_COUNT, Deadline(1.0))
        try:
            q.send(h.build_release_complete(crv=CRV)[0])
        except OSError:
            pass
        summary = {"rtp_%d" % r: counters[0].rtp,
                   "rtcp_%d" % (r + 1): counters[1].rtcp,
                   "rtp_%d" % (r + 2): counters[2].rtp,
                   "sources": sorted(counters[0].sources |
                                     counters[1].sources |
                                     counters[2].sources),
                   "rtp_sent": {"%s:%d" % tuple(media): RTP_COUNT}}
        if not ok:
            return ep.finish(False, "media missing: %s" % summary, **summary)
        return ep.finish(True, "", **summary)
    finally:
        for k in counters:
            k.stop.set()


# -------------------------------------------------------------- gk, register

def gk(ep):
    a = ep.args
    s = udp(a.listen, a.port)
    while True:
        s.settimeout(ep.dl.left("RRQ"))
        try:
            data, src = s.recvfrom(4096)
        except socket.timeout:
            raise Fail("timeout waiting for RRQ")
        if data and data[0] >> 2 == h.RAS["rrq"]:  # ext bit, 5-bit index
            break
    rrq = ep.read("rrq", h.build_rrq, rrq_kw(), data, quiet=True)
    emit(event="rrq", source=list(src),
         callSignalAddress=pair(rrq["callSignalAddress[0]"]),
         rasAddress=pair(rrq["rasAddress[0]"]),
         same_otherwise="rrq" not in ep.changed)
    s.sendto(h.build_rcf(**rcf_kw((a.listen, a.port + 1)))[0], src)
    csa = rrq["callSignalAddress[0]"]
    q = connect(a.listen, csa, ep.dl, "the registered endpoint")
    q.send(h.build_setup(**gk_setup_kw(csa, (a.listen, a.port + 1)))[0])
    msg = q.recv(ep.dl, "ReleaseComplete")
    emit(event="q931", type=h.q931_type(msg))
    return ep.finish(True, "", callSignalAddress=pair(csa),
                     rasAddress=pair(rrq["rasAddress[0]"]))


def register(ep):
    a = ep.args
    lst = listen(a.local, a.signal_port)
    s = udp(a.local, a.ras_port)
    ras = (a.local, s.getsockname()[1])
    rrq = h.build_rrq(**rrq_kw((a.local, a.signal_port), ras))[0]
    while True:                         # RRQ every second until an RCF
        s.sendto(rrq, (a.gk, a.gk_port))
        r, _, _ = select.select([s], [], [], min(1.0, ep.dl.left("RCF")))
        if r:
            data, src = s.recvfrom(4096)
            break
    ep.read("rcf", h.build_rcf, rcf_kw(), data, source=list(src))
    q = accept(lst, ep.dl, "the gatekeeper's call")
    msg = q.recv(ep.dl, "Setup")
    st = ep.read("setup", h.build_setup, gk_setup_kw(), msg)
    q.send(h.build_release_complete(crv=0x0777, reply=True)[0])
    return ep.finish(True, "", rasAddress=pair(ras),
                     destCallSignalAddress=pair(st.get(
                         "destCallSignalAddress")))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sp = p.add_subparsers(dest="role", required=True)
    x = sp.add_parser("callee")
    x.add_argument("--listen", required=True)
    x.add_argument("--port", type=int, default=1720)
    x.add_argument("--rtp-port", type=int, required=True)
    x = sp.add_parser("caller")
    x.add_argument("--connect", required=True)
    x.add_argument("--port", type=int, default=1720)
    x.add_argument("--local", required=True)
    x.add_argument("--h245-port", type=int, required=True)
    x.add_argument("--rtp-port", type=int, required=True)
    x.add_argument("--signal-port", type=int, default=1720)
    x = sp.add_parser("gk")
    x.add_argument("--listen", required=True)
    x.add_argument("--port", type=int, default=1719)
    x = sp.add_parser("register")
    x.add_argument("--gk", required=True)
    x.add_argument("--gk-port", type=int, default=1719)
    x.add_argument("--local", required=True)
    x.add_argument("--signal-port", type=int, required=True)
    x.add_argument("--ras-port", type=int, default=0)
    for x in sp.choices.values():
        x.add_argument("--timeout", type=float, default=20)
        x.add_argument("--allow-changes", action="store_true")
        x.add_argument("--h245-by-callee", action="store_true",
                       help="the callee names the H.245 address (Connect) "
                       "and the caller connects to it")
        x.add_argument("--split", type=int, default=0,
                       help="send each TCP message as two segments, "
                       "the first this long")
    args = p.parse_args()
    global SPLIT, BY_CALLEE
    SPLIT = args.split
    BY_CALLEE = args.h245_by_callee
    ep = Endpoint(args)
    try:
        rc = {"callee": callee, "caller": caller, "gk": gk,
              "register": register}[args.role](ep)
    except (Fail, OSError, ValueError, KeyError) as e:
        emit(event="summary", ok=False, error=str(e))
        print("%s: %s" % (args.role, e if not isinstance(e, KeyError)
                          else "missing address %s" % e), file=sys.stderr)
        rc = 1
    sys.stdout.flush()
    os._exit(rc)                       # counter threads need no joining


if __name__ == "__main__":
    main()
