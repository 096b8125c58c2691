#!/usr/bin/python3
"""A minimal PPTP client (PNS, RFC 2637) for test_pptp.sh, for what pptp
(pptp-linux) cannot be told to do: use a given Call ID.

  pptp_client.py SERVER CALL_ID

Starts a control connection, places one outgoing call with Call ID CALL_ID,
prints "up SERVER_CALL_ID" once the server's Outgoing-Call-Reply says it is
connected (or "refused RESULT"), then holds the call until SIGTERM, and
then clears it (Call-Clear-Request; the server's Call-Disconnect-Notify or
its end of the control connection), stops the control connection and
prints "cleared".
"""
import signal
import socket
import struct
import sys
import threading

MAGIC = 0x1A2B3C4D


def message(ctrl_type, body):
    length = 12 + len(body)
    return struct.pack("!HHIHH", length, 1, MAGIC, ctrl_type, 0) + body


def read_message(sock):
    head = b""
    while len(head) < 12:
        chunk = sock.recv(12 - len(head))
        if not chunk:
            raise EOFError("control connection closed")
        head += chunk
    length, _, magic, ctrl_type, _ = struct.unpack("!HHIHH", head)
    if magic != MAGIC or length < 12:
        raise ValueError("not a PPTP control message")
    body = b""
    while len(body) < length - 12:
        chunk = sock.recv(length - 12 - len(body))
        if not chunk:
            raise EOFError("control connection closed")
        body += chunk
    return ctrl_type, body


def expect(sock, want):
    while True:
        ctrl_type, body = read_message(sock)
        if ctrl_type == 5:  # Echo-Request: answer, keep waiting
            sock.sendall(message(6, body[:4] + struct.pack("!BBH", 1, 0, 0)))
            continue
        if ctrl_type == want:
            return body


def main():
    server, call_id = sys.argv[1], int(sys.argv[2])
    sock = socket.create_connection((server, 1723), timeout=10)
    # Start-Control-Connection-Request: version 1.0, async framing, analog
    # bearer, hostname and vendor.
    sccrq = struct.pack("!HHIIHH64s64s", 0x0100, 0, 1, 1, 0, 1,
                        b"unat-test", b"unat")
    sock.sendall(message(1, sccrq))
    expect(sock, 2)
    # Outgoing-Call-Request: the Call ID, serial 1, speeds, bearer/framing
    # any, receive window 64, no phone number.
    ocrq = struct.pack("!HHIIIIHHHH64s64s", call_id, 1, 300, 100000000, 3, 3,
                       64, 0, 0, 0, b"", b"")
    sock.sendall(message(7, ocrq))
    ocrp = expect(sock, 8)
    server_cid, peer_cid, result = struct.unpack("!HHB", ocrp[:5])
    if result != 1:
        print("refused", result, flush=True)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("up", server_cid, flush=True)
    while not stop.wait(0.1):
        pass
    sock.sendall(message(12, struct.pack("!HH", call_id, 0)))
    try:
        expect(sock, 13)
        sock.sendall(message(3, struct.pack("!BBH", 1, 0, 0)))
        expect(sock, 4)
        print("cleared", flush=True)
    except (EOFError, ConnectionResetError):
        # pptpd has one call per control connection: clearing the call
        # ends the connection.
        print("cleared (the server closed the control connection)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
