#!/usr/bin/python3
"""Runs CMD on a pty in raw mode, the way pppd gives pptp its PPP side:

  pty_run.py OUTFILE CMD ARGS...

what CMD writes to the pty goes to OUTFILE; nothing is written to it. Ends
when CMD does, with its status (SIGTERM is passed on to CMD).
"""
import os
import signal
import sys
import tty


def main():
    out, cmd = sys.argv[1], sys.argv[2:]
    master, slave = os.openpty()
    tty.setraw(slave)
    pid = os.fork()
    if pid == 0:
        os.setsid()
        os.close(master)
        for fd in (0, 1):
            os.dup2(slave, fd)
        os.close(slave)
        os.execvp(cmd[0], cmd)
    os.close(slave)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGTERM))
    with open(out, "ab", buffering=0) as f:
        while True:
            try:
                data = os.read(master, 4096)
            except InterruptedError:
                continue
            except OSError:
                break  # the child closed its side
            if not data:
                break
            f.write(data)
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status) & 0xff)


if __name__ == "__main__":
    main()
