#!/usr/bin/python3
"""Writes the H.323 test vectors: tests/helpers/testdata/h323/NAME.bin and
manifest.json, a list of {"name", "kind": "q931"|"h245"|"ras", "addrs":
[{"field", "offset", "ip", "port"}]} (offset: the 4 IPv4 octets in the
.bin; the 2 port octets follow).

  make_vectors.py [OUTDIR]

Inside-looking addresses are 10.77.0.2 with a distinct port per field;
203.0.113.2 is the remote party's."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h323enc as h  # noqa: E402

IN = "10.77.0.2"
OUT = "203.0.113.2"


def fwd(lcn, media=None, control=None, codec="g711Ulaw64k"):
    return dict(lcn=lcn, direction="forward", codec=codec, media=media,
                control=control)


def rev(lcn, media=None, control=None, codec="g711Ulaw64k"):
    return dict(lcn=lcn, direction="reverse", codec=codec, media=media,
                control=control)


def vectors():
    """(name, kind, bytes, addrs) for every vector."""
    v = []

    def add(name, kind, built):
        v.append((name, kind) + built)

    add("setup_faststart", "q931", h.build_setup(
        h245=(IN, 11001), dest_csa=(OUT, 1720), src_csa=(IN, 11720),
        fast_start=[fwd(1, control=(IN, 16001)),
                    rev(2, media=(IN, 16000), control=(IN, 16001))]))
    add("setup_plain", "q931", h.build_setup(
        dest_csa=(OUT, 1720), src_csa=(IN, 11720), tunnelling=None))
    add("setup_tunnel", "q931", h.build_setup(
        dest_csa=(OUT, 1720), src_csa=(IN, 11720), tunnelling=True,
        h245_control=[fwd(1, control=(IN, 16101))]))
    add("setup_faststart_g7231", "q931", h.build_setup(
        h245=(IN, 11002), dest_csa=(OUT, 1720), src_csa=(IN, 11720),
        fast_start=[fwd(1, control=(IN, 16201), codec="g7231"),
                    rev(2, media=(IN, 16200), control=(IN, 16201),
                        codec="g7231"),
                    fwd(3, control=(IN, 16203), codec="g729"),
                    rev(4, media=(IN, 16202), control=(IN, 16203),
                        codec="g729")]))
    add("callproceeding_h245", "q931",
        h.build_call_proceeding(h245=(IN, 11003)))
    add("alerting_h245", "q931", h.build_alerting(h245=(IN, 11004)))
    add("connect_faststart", "q931", h.build_connect(
        h245=(IN, 11005),
        fast_start=[fwd(1, media=(IN, 16300), control=(IN, 16301))]))
    add("facility_h245", "q931", h.build_facility(h245=(IN, 11006)))
    add("facility_alternative", "q931", h.build_facility(
        h245=(IN, 11008), alternative=(OUT, 1721)))
    add("progress_h245", "q931", h.build_progress(h245=(IN, 11007)))
    add("progress_faststart", "q931", h.build_progress(
        h245=(IN, 11009),
        fast_start=[fwd(1, media=(IN, 16400), control=(IN, 16401))]))
    add("releasecomplete", "q931", h.build_release_complete())
    add("h245_olc", "h245", h.build_h245_olc(lcn=1, control=(IN, 16501)))
    add("h245_olc_reverse", "h245", h.build_h245_olc(
        lcn=2, direction="reverse", media=(IN, 16502),
        control=(IN, 16503)))
    add("h245_olcack", "h245", h.build_h245_olcack(
        lcn=1, media=(IN, 16600), control=(IN, 16601)))
    add("h245_msd", "h245", h.build_h245_msd())
    add("h245_tcsack", "h245", h.build_h245_tcsack())
    add("h245_rtdreq", "h245", h.build_h245_rtdreq())
    add("ras_rrq", "ras", h.build_rrq(csa=[(IN, 11721)],
                                      ras=[(IN, 11719)]))
    add("ras_rcf", "ras", h.build_rcf(csa=[(OUT, 1720)]))
    add("ras_arq", "ras", h.build_arq(dest_csa=(OUT, 1720),
                                      src_csa=(IN, 11722)))
    add("ras_acf", "ras", h.build_acf(dest_csa=(OUT, 1720)))
    add("ras_lrq", "ras", h.build_lrq(reply=(IN, 11723)))
    add("ras_lcf", "ras", h.build_lcf(csa=(OUT, 1720), ras=(OUT, 1719)))
    return v


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "..", "helpers", "testdata", "h323")
    os.makedirs(out, exist_ok=True)
    manifest = []
    for name, kind, data, addrs in vectors():
        for a in addrs:                  # the offsets hold what they say
            assert data[a["offset"]:a["offset"] + 6] == \
                h.ip4(a["ip"]) + a["port"].to_bytes(2, "big"), (name, a)
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)
        manifest.append({"name": name, "kind": kind, "addrs": addrs})
    with open(os.path.join(out, "manifest.json"), "w") as f:
        f.write("[\n" + ",\n".join(   # one vector a line or so
            '{"name": %s, "kind": %s, "addrs": [%s]}' % (
                json.dumps(v["name"]), json.dumps(v["kind"]),
                ",".join("\n  " + json.dumps(a) for a in v["addrs"]))
            for v in manifest) + "\n]\n")
    # The same for the C++ tests: "name kind field offset ip port" lines
    # (a vector without addresses: one line with field "-").
    with open(os.path.join(out, "manifest.txt"), "w") as f:
        for v in manifest:
            if not v["addrs"]:
                f.write("%s %s - 0 0.0.0.0 0\n" % (v["name"], v["kind"]))
            for a in v["addrs"]:
                f.write("%s %s %s %d %s %d\n" % (v["name"], v["kind"],
                        a["field"], a["offset"], a["ip"], a["port"]))
    print("%d vectors in %s" % (len(manifest), os.path.normpath(out)))


if __name__ == "__main__":
    main()
