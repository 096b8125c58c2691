#!/usr/bin/python3
"""Abusive and ordinary HTTP clients for unat's UPnP control port (e2e).

Every command prints one JSON object on stdout.

  upnp_abuse.py get HOST PORT PATH [--src ADDR]
      One GET; {"status", "elapsed", "length", "end"}.
  upnp_abuse.py soap HOST PORT ACTION BODYFILE [--src ADDR]
      POST /ctl/IPConn with SOAPAction WANIPConnection:2#ACTION and the
      bytes of BODYFILE as the body; {"status", "elapsed", "body", "end"}.
  upnp_abuse.py big HOST PORT SIZE [--endless] [--src ADDR]
      POST with Content-Length SIZE, sending the body while reading, until
      the server closes (EOF); with --endless it sends on (past SIZE) until
      the connection is reset; {"status", "elapsed", "answer_at", "eof_at",
      "sent", "end"} where end is "eof", "rst" or "timeout".
  upnp_abuse.py slow HOST PORT [--trickle SECONDS] [--src ADDR]
      Sends a request line and one header, never the blank line (with
      --trickle one more header byte every SECONDS); waits for the answer;
      {"status", "elapsed", "trickled", "end"}.
  upnp_abuse.py flood HOST PORT --src FIRST-LAST --per-src N --duration S
                     [--ready FILE] [--backoff S] [--silent-every K]
                     [--no-reconnect]
      Keeps N connections from each source address FIRST..LAST (the last
      octet ranges) open to HOST:PORT for S seconds, each holding a
      half-finished request (every K-th connects and sends nothing);
      reconnects BACKOFF seconds after a refusal, reset or answer (not with
      --no-reconnect). Writes FILE once every first attempt has been
      answered (connected or refused; 3 s at most). {"attempts",
      "connected", "refused", "reset", "answers", "open_max", "open_end",
      ...}.
"""
import errno
import json
import os
import select
import selectors
import socket
import sys
import time

HALF = (b"POST /ctl/IPConn HTTP/1.1\r\nHost: 10.77.0.1:5000\r\n"
        b"Content-Type: text/xml\r\nContent-Length: 300\r\n")


def status_of(data):
    if data.startswith(b"HTTP/1.") and len(data) >= 12:
        try:
            return int(data[9:12])
        except ValueError:
            return -1
    return 0


def connect(host, port, src=None, timeout=10.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if src:
        s.bind((src, 0))
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def read_all(s, deadline):
    """Reads until EOF, RST or the deadline: (bytes, end)."""
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, "timeout"
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return data, "timeout"
        except ConnectionResetError:
            return data, "rst"
        if not chunk:
            return data, "eof"
        data += chunk


def cmd_get(host, port, path, src=None):
    t0 = time.monotonic()
    try:
        s = connect(host, port, src)
    except OSError as e:
        return {"status": 0, "error": str(e),
                "elapsed": round(time.monotonic() - t0, 3)}
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n" %
               (path, host, port)).encode())
    data, end = read_all(s, t0 + 15)
    s.close()
    return {"status": status_of(data), "elapsed": round(time.monotonic() - t0, 3),
            "length": len(data), "end": end}


def cmd_soap(host, port, action, body_file, src=None):
    with open(body_file, "rb") as f:
        body = f.read()
    t0 = time.monotonic()
    s = connect(host, port, src)
    head = ("POST /ctl/IPConn HTTP/1.1\r\nHost: %s:%d\r\n"
            "Content-Type: text/xml; charset=\"utf-8\"\r\n"
            "SOAPAction: \"urn:schemas-upnp-org:service:WANIPConnection:2#%s\"\r\n"
            "Content-Length: %d\r\n\r\n" % (host, port, action, len(body)))
    s.sendall(head.encode() + body)
    data, end = read_all(s, t0 + 15)
    s.close()
    sep = data.find(b"\r\n\r\n")
    return {"status": status_of(data), "elapsed": round(time.monotonic() - t0, 3),
            "body": data[sep + 4:].decode("utf-8", "replace") if sep >= 0 else "",
            "end": end}


def cmd_big(host, port, size, endless=False, src=None):
    """POST with Content-Length `size`, sending the body while reading. By
    default the client stops sending once the server closed (EOF); with
    `endless` it keeps sending (64 KiB every 20 ms, past the declared
    length) until the connection is reset or 15 s pass."""
    t0 = time.monotonic()
    s = connect(host, port, src)
    s.setblocking(False)
    head = ("POST /ctl/IPConn HTTP/1.1\r\nHost: %s:%d\r\n"
            "SOAPAction: \"urn:schemas-upnp-org:service:WANIPConnection:2#"
            "GetExternalIPAddress\"\r\nContent-Type: text/xml\r\n"
            "Content-Length: %d\r\n\r\n" % (host, port, size)).encode()
    pending = head + b"a" * size
    sent = 0
    data = b""
    end = None
    t_answer = t_eof = None
    last_fill = 0.0
    reading = True
    deadline = t0 + 15
    while end is None and time.monotonic() < deadline:
        now = time.monotonic()
        if endless and not pending and now - last_fill >= 0.02:
            pending = b"a" * 65536
            last_fill = now
        rlist = [s] if reading else []
        wlist = [s] if pending else []
        if not rlist and not wlist:
            if not endless:
                end = "eof"
                break
            time.sleep(0.005)
            continue
        r, w, _ = select.select(rlist, wlist, [], 0.02)
        if r:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                end = "rst"
                break
            except BlockingIOError:
                chunk = None
            if chunk == b"":
                t_eof = time.monotonic()
                reading = False
                if not endless:
                    end = "eof"
            elif chunk:
                if not data:
                    t_answer = time.monotonic()
                data += chunk
        if w and end is None:
            try:
                n = s.send(pending)
            except BlockingIOError:
                n = 0
            except (ConnectionResetError, BrokenPipeError):
                end = "rst"
                break
            sent += n
            pending = pending[n:]
    t_end = time.monotonic()
    s.close()

    def rel(t):
        return None if t is None else round(t - t0, 3)
    return {"status": status_of(data), "elapsed": round(t_end - t0, 3),
            "answer_at": rel(t_answer), "eof_at": rel(t_eof),
            "sent": max(0, sent - len(head)), "end": end or "timeout",
            "head": data[:200].decode("latin-1")}


def cmd_slow(host, port, trickle=None, src=None):
    t0 = time.monotonic()
    s = connect(host, port, src)
    s.sendall(b"GET /rootDesc.xml HTTP/1.1\r\nHost: 10.77.0.1:5000\r\nX-Slow: ")
    trickled = 0
    data = b""
    end = "timeout"
    deadline = t0 + 20
    while time.monotonic() < deadline:
        s.settimeout(trickle if trickle else deadline - time.monotonic())
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            if trickle:
                try:
                    s.send(b"x")
                    trickled += 1
                except OSError:
                    end = "rst"
                    break
            continue
        except ConnectionResetError:
            end = "rst"
            break
        if not chunk:
            end = "eof"
            break
        data += chunk
    s.close()
    return {"status": status_of(data), "elapsed": round(time.monotonic() - t0, 3),
            "trickled": trickled, "end": end}


class Flood:
    def __init__(self, host, port, sources, per_src, duration, backoff,
                 silent_every, ready, reconnect=True):
        self.reconnect = reconnect
        self.host, self.port = host, port
        self.duration, self.backoff = duration, backoff
        self.ready = ready
        self.sel = selectors.DefaultSelector()
        # One slot per wanted connection: (source, index).
        self.slots = [(src, n) for n, src in
                      enumerate(src for _ in range(per_src) for src in sources)]
        self.silent_every = silent_every
        self.retry_at = {}  # slot -> monotonic time
        self.first_done = set()
        self.open = 0
        self.st = {"attempts": 0, "connected": 0, "refused": 0, "reset": 0,
                   "eof": 0, "answers": {}, "open_max": 0, "bind_errors": 0,
                   "other_errors": 0}

    def start(self, slot):
        src, _ = slot
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((src, 0))
        except OSError:
            self.st["bind_errors"] += 1
            s.close()
            self.retry_at[slot] = time.monotonic() + self.backoff
            return
        self.st["attempts"] += 1
        rc = s.connect_ex((self.host, self.port))
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            self.failed(slot, rc)
            return
        self.sel.register(s, selectors.EVENT_WRITE, (slot, "connecting"))

    def failed(self, slot, err):
        if err == errno.ECONNREFUSED:
            self.st["refused"] += 1
        elif err == errno.ECONNRESET:
            self.st["reset"] += 1
        else:
            self.st["other_errors"] += 1
        self.first_done.add(slot)
        self.retry_at[slot] = time.monotonic() + self.backoff

    def gone(self, s, slot, what):
        self.sel.unregister(s)
        s.close()
        self.open -= 1
        self.st[what] += 1
        self.retry_at[slot] = time.monotonic() + self.backoff

    def run(self):
        t0 = time.monotonic()
        for slot in self.slots:
            self.start(slot)
        ready_written = False
        while time.monotonic() - t0 < self.duration:
            if not ready_written and (len(self.first_done) == len(self.slots)
                                      or time.monotonic() - t0 > 3):
                if self.ready:
                    with open(self.ready, "w") as f:
                        f.write("%d\n" % self.open)
                self.st["ready_after"] = round(time.monotonic() - t0, 3)
                self.st["open_at_ready"] = self.open
                ready_written = True
            for key, _ev in self.sel.select(0.05):
                s = key.fileobj
                slot, state = key.data
                if state == "connecting":
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        self.sel.unregister(s)
                        s.close()
                        self.failed(slot, err)
                        continue
                    self.first_done.add(slot)
                    self.st["connected"] += 1
                    self.open += 1
                    self.st["open_max"] = max(self.st["open_max"], self.open)
                    if not (self.silent_every and slot[1] % self.silent_every == 0):
                        try:
                            s.send(HALF)
                        except OSError:
                            pass
                    self.sel.modify(s, selectors.EVENT_READ, (slot, "open"))
                    continue
                try:
                    chunk = s.recv(4096)
                except ConnectionResetError:
                    self.gone(s, slot, "reset")
                    continue
                except OSError:
                    self.gone(s, slot, "other_errors")
                    continue
                if not chunk:
                    self.gone(s, slot, "eof")
                    continue
                code = str(status_of(chunk))
                self.st["answers"][code] = self.st["answers"].get(code, 0) + 1
                self.gone(s, slot, "eof")
            now = time.monotonic()
            if not self.reconnect:
                self.retry_at.clear()
            for slot, when in list(self.retry_at.items()):
                if when <= now:
                    del self.retry_at[slot]
                    self.start(slot)
        self.st["open_end"] = self.open
        self.st["elapsed"] = round(time.monotonic() - t0, 3)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        return self.st


def parse_range(spec):
    first, last = spec.split("-")
    base = first.rsplit(".", 1)
    lo = int(base[1])
    hi = int(last.rsplit(".", 1)[-1])
    return ["%s.%d" % (base[0], i) for i in range(lo, hi + 1)]


def opt(args, name, default=None, conv=str):
    if name in args:
        i = args.index(name)
        v = args[i + 1]
        del args[i:i + 2]
        return conv(v)
    return default


def main():
    args = sys.argv[1:]
    cmd = args.pop(0)
    src = opt(args, "--src")
    if cmd == "get":
        r = cmd_get(args[0], int(args[1]), args[2], src)
    elif cmd == "soap":
        r = cmd_soap(args[0], int(args[1]), args[2], args[3], src)
    elif cmd == "big":
        endless = "--endless" in args
        if endless:
            args.remove("--endless")
        r = cmd_big(args[0], int(args[1]), int(args[2]), endless, src)
    elif cmd == "slow":
        r = cmd_slow(args[0], int(args[1]), opt(args, "--trickle", None, float), src)
    elif cmd == "flood":
        per = opt(args, "--per-src", 5, int)
        dur = opt(args, "--duration", 10.0, float)
        ready = opt(args, "--ready")
        backoff = opt(args, "--backoff", 0.2, float)
        silent = opt(args, "--silent-every", 0, int)
        reconnect = "--no-reconnect" not in args
        if not reconnect:
            args.remove("--no-reconnect")
        r = Flood(args[0], int(args[1]), parse_range(src), per, dur, backoff,
                  silent, ready, reconnect).run()
    else:
        sys.exit("unknown command " + cmd)
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
