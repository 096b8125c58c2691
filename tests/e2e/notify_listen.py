#!/usr/bin/env python3
"""A stand-in for systemd's notify socket (sd_notify(3)).

Binds a unix datagram socket at PATH and appends every assignment it
receives to LOG, one line each: "pid=N READY=1", N being the sender's pid
(SCM_CREDENTIALS). Ends after a message with STOPPING=1, or after TIMEOUT
seconds (default 100). Usage: notify_listen.py PATH LOG [TIMEOUT]
"""
import socket
import struct
import sys
import time

path, log = sys.argv[1], sys.argv[2]
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 100.0

sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
sock.bind(path)
deadline = time.monotonic() + timeout
cred_size = struct.calcsize("iII")  # struct ucred: pid, uid, gid

with open(log, "a", encoding="utf-8") as out:
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            data, ancillary, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(cred_size))
        except socket.timeout:
            break
        pid = "?"
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:cred_size])[0]
        lines = data.decode("utf-8", "replace").splitlines()
        for line in lines:
            out.write(f"pid={pid} {line}\n")
        out.flush()
        if "STOPPING=1" in lines:
            break
