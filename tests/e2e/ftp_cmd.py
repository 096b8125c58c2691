#!/usr/bin/python3
"""A scripted FTP control connection for the e2e tests.

  ftp_cmd.py HOST [--hold SECONDS] COMMAND...

Connects to HOST:21, prints the greeting's final reply line, sends each
COMMAND and prints its final reply line (flushed, one per line), then keeps
the control connection open for SECONDS (default 0) before closing it."""
import socket
import sys
import time


def main():
    args = sys.argv[1:]
    host = args.pop(0)
    hold = 0.0
    if args and args[0] == "--hold":
        args.pop(0)
        hold = float(args.pop(0))
    s = socket.create_connection((host, 21), timeout=10)
    f = s.makefile("rwb")

    def reply():
        while True:
            line = f.readline().decode().rstrip()
            if not line:
                return "(connection closed)"
            if len(line) >= 4 and line[3] == " ":
                return line

    print(reply(), flush=True)
    for command in args:
        f.write(command.encode() + b"\r\n")
        f.flush()
        print(reply(), flush=True)
    time.sleep(hold)


if __name__ == "__main__":
    main()
