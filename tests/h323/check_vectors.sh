#!/bin/bash
# Checks the H.323 test vectors against Wireshark's dissectors.
#
#   tests/h323/check_vectors.sh [DIR]    (default tests/helpers/testdata/h323)
#
# Every NAME.bin of DIR/manifest.json goes into one pcap (Ethernet + IPv4 +
# TCP to port 1720 for q931, TCP to H245_PORT decoded as H.245 for h245,
# UDP 1719 for ras), one frame each, and one `tshark -V` run decodes them.
# A vector fails when its frame shows "Malformed", an "[Expert Info
# (Error" or an "Exception", is not decoded by the expected protocol, or
# does not show each manifest address (ip/network and port/tsapIdentifier)
# under its field's path (fastStart[1].mediaChannel: "fastStart" > "Item 1"
# > "mediaChannel"). Prints one line per vector, then "N vectors ok".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/../helpers/testdata/h323}
H245_PORT=47000

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[[ -f $dir/manifest.json ]] || { echo "no $dir/manifest.json" >&2; exit 1; }

# The pcap: one frame per vector, in manifest order.
/usr/bin/python3 - "$dir" "$tmp/v.pcap" "$H245_PORT" <<'EOF'
import json, os, struct, sys

d, pcap, h245_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
SRC, DST = bytes([10, 77, 0, 2]), bytes([203, 0, 113, 2])


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def frame(payload, tcp, sport, dport):
    if tcp:   # one PSH|ACK segment, 20-octet header
        l4 = struct.pack("!HHIIBBHHH", sport, dport, 1000, 1, 5 << 4, 0x18,
                         65535, 0, 0) + payload
        proto, at = 6, 16
    else:
        l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        proto, at = 17, 6
    c = csum(SRC + DST + struct.pack("!BBH", 0, proto, len(l4)) + l4)
    l4 = l4[:at] + struct.pack("!H", c or 0xffff) + l4[at + 2:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0x4000, 64,
                     proto, 0, SRC, DST)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return bytes.fromhex("020000000002020000000001") + b"\x08\x00" + ip + l4


with open(os.path.join(d, "manifest.json")) as f:
    manifest = json.load(f)
with open(pcap, "wb") as out:
    out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i, v in enumerate(manifest):
        with open(os.path.join(d, v["name"] + ".bin"), "rb") as f:
            data = f.read()
        if v["kind"] == "q931":
            p = frame(data, True, 30000 + i, 1720)
        elif v["kind"] == "h245":
            p = frame(data, True, 30000 + i, h245_port)
        else:
            p = frame(data, False, 1719, 1719)
        out.write(struct.pack("<IIII", 1000 + i, 0, len(p), len(p)) + p)
EOF

# H.245 has no port of its own: "Decode As" h245, whose dissector reads
# the TPKT framing itself.
out=$(tshark -n -r "$tmp/v.pcap" -V -d "tcp.port==$H245_PORT,h245" 2>&1) || {
  echo "$out" >&2
  echo "tshark failed" >&2
  exit 1
}
printf '%s\n' "$out" >"$tmp/v.txt"

/usr/bin/python3 - "$dir" "$tmp/v.txt" <<'EOF'
import json, os, re, sys

d, txt = sys.argv[1], sys.argv[2]
with open(os.path.join(d, "manifest.json")) as f:
    manifest = json.load(f)
frames = []
for line in open(txt).read().split("\n"):
    if re.match(r"Frame \d+:", line):
        frames.append([])
    if frames:
        frames[-1].append(line)
PROTO = {"q931": "H.225.0 CS", "h245": "H.245", "ras": "H.225.0 RAS"}


def indent(s):
    return len(s) - len(s.lstrip(" "))


def label(s):
    return s.strip().split(":")[0]


def end_of(lines, i):                  # end of line i's subtree
    j = i + 1
    while j < len(lines) and (not lines[j].strip()
                              or indent(lines[j]) > indent(lines[i])):
        j += 1
    return j


def ranges(lines, lo, hi, comp):
    """Subtrees matching one path component: name or name[i]."""
    m = re.fullmatch(r"(\w+)(?:\[(\d+)\])?", comp)
    out = []
    for i in range(lo, hi):
        if label(lines[i]) != m.group(1):
            continue
        e = end_of(lines, i)
        if m.group(2) is None:
            out.append((i, e))
            continue
        for k in range(i + 1, e):
            if lines[k].strip() == "Item " + m.group(2):
                out.append((k, end_of(lines, k)))
    return out


def pairs(lines, lo, hi):              # (ip, port) pairs in a subtree
    got = set()
    for i in range(lo, hi - 1):
        a, b = lines[i].strip(), lines[i + 1].strip()
        ma = re.fullmatch(r"(?:ip|network): (\S+)", a)
        mb = re.fullmatch(r"(?:port|tsapIdentifier): (\d+)", b)
        if ma and mb:
            got.add((ma.group(1), int(mb.group(1))))
    return got


def check(v, lines):
    bad = [l.strip() for l in lines if "Malformed" in l
           or "[Expert Info (Error" in l or "Exception" in l]
    if bad:
        return bad[0]
    if PROTO[v["kind"]] not in [l.rstrip() for l in lines]:
        return "not decoded as " + PROTO[v["kind"]]
    for a in v["addrs"]:
        spans = [(0, len(lines))]
        for comp in a["field"].split("."):
            spans = [r for lo, hi in spans for r in ranges(lines, lo, hi, comp)]
        if not any((a["ip"], a["port"]) in pairs(lines, lo, hi)
                   for lo, hi in spans):
            return "%s %s:%d not shown" % (a["field"], a["ip"], a["port"])
    return None


failed = 0
if len(frames) != len(manifest):
    print("tshark shows %d frames for %d vectors" % (len(frames), len(manifest)))
    sys.exit(1)
for v, lines in zip(manifest, frames):
    why = check(v, lines)
    if why:
        failed += 1
        print("FAIL %s: %s" % (v["name"], why))
    else:
        print("ok   %-24s %-4s %d addresses" % (v["name"], v["kind"],
                                                 len(v["addrs"])))
if failed:
    print("%d of %d vectors failed" % (failed, len(manifest)))
    sys.exit(1)
print("%d vectors ok" % len(manifest))
EOF
