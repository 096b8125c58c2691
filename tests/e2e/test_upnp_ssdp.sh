#!/usr/bin/env bash
# SSDP of unatd's UPnP IGD, seen by real sockets in the lab's namespaces:
# every search target of the issue answered (multicast and unicast), the
# answers to a multicast search spread over MX (capped at 5) while a
# unicast search is answered at once, a multicast search without MX
# discarded, the second tenant answered for its own gateway, nothing of
# SSDP reaching the WAN nor answered from it (nor the control port), and across `lab.sh restart` NOTIFY ssdp:byebye at
# shutdown then ssdp:alive (three times) at start with a larger BOOTID.
source "$(dirname "$0")/lib.sh"
UNAT_LAB_CONFIG_EXTRA='helpers { upnp: true }' "$LAB" up
PROBE="$E2E_DIR/ssdp_probe.py"

# Something in the WAN sees every UDP 1900 datagram on its device for the
# whole search part.
wan "$PY" "$PROBE" sniff unatw0 14 >"$TMP/sniff.json" 2>&1 &
sniff_pid=$!
sleep 0.5

IGD=urn:schemas-upnp-org:device:InternetGatewayDevice
WD=urn:schemas-upnp-org:device:WANDevice
WCD=urn:schemas-upnp-org:device:WANConnectionDevice
IP=urn:schemas-upnp-org:service:WANIPConnection
CMN=urn:schemas-upnp-org:service:WANCommonInterfaceConfig
L3F=urn:schemas-upnp-org:service:Layer3Forwarding
targets=(ssdp:all upnp:rootdevice "$IGD:1" "$IGD:2" "$WD:1" "$WD:2" "$WCD:1"
  "$WCD:2" "$IP:1" "$IP:2" "$CMN:1" "$L3F:1" "urn:schemas-upnp-org:service:WANPPPConnection:1")

# check JSON_FILE PYTHON_ASSERTIONS: runs the assertions with `r` = the
# probe's output; prints their message on failure.
check() {
  "$PY" - "$1" "$2" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
try:
    exec(sys.argv[2])
except AssertionError as e:
    print("assertion failed:", e, "| output:", json.dumps(r)[:1500])
    sys.exit(1)
EOF
}

lan "$PY" "$PROBE" search 239.255.255.250 2 3.5 "${targets[@]}" >"$TMP/multi.json" ||
  fail "search: $(cat "$TMP/multi.json")"
check "$TMP/multi.json" '
loc = "http://10.77.0.1:5000/rootDesc.xml"
for st, answers in r.items():
    if st.endswith("WANPPPConnection:1"):
        assert answers == [], "answered a type it does not have: " + st
        continue
    want = 10 if st == "ssdp:all" else 1
    assert len(answers) == want, "%s: %d answers" % (st, len(answers))
    for a in answers:
        h = a["headers"]
        assert h["_start"] == "HTTP/1.1 200 OK", h
        assert h["LOCATION"] == loc, h
        assert "max-age=1800" in h["CACHE-CONTROL"], h
        assert "EXT" in h and int(h["BOOTID.UPNP.ORG"]) > 0, h
        assert h["USN"].startswith("uuid:"), h
        assert a["delay"] < 2.3, "%s answered after %s s (MX 2)" % (st, a["delay"])
        if st != "ssdp:all":
            assert h["ST"] == st, h
            if st.startswith("urn:"):
                assert h["USN"].endswith("::" + st), h
sts = sorted(a["headers"]["ST"] for a in r["ssdp:all"])
assert len(set(sts)) == 10, sts
uuids = [s for s in sts if s.startswith("uuid:")]
assert len(uuids) == 3, sts
'
ok "multicast M-SEARCH: the 12 targets answered (ssdp:all: 10), LOCATION http://10.77.0.1:5000/rootDesc.xml, within MX 2; WANPPPConnection not"

# The uuids found are searchable too.
root_uuid=$("$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["upnp:rootdevice"][0]["headers"]["USN"].split("::")[0])' "$TMP/multi.json")
lan "$PY" "$PROBE" search 239.255.255.250 1 1.5 "$root_uuid" >"$TMP/uuid.json"
check "$TMP/uuid.json" "
a = r['$root_uuid']
assert len(a) == 1 and a[0]['headers']['ST'] == '$root_uuid' and a[0]['headers']['USN'] == '$root_uuid', a
"
ok "M-SEARCH for the root device's uuid ($root_uuid) answered"

# MX 5 (and 120, capped at 5): ten answers spread over the window.
lan "$PY" "$PROBE" search 239.255.255.250 5 6 ssdp:all >"$TMP/mx5.json"
lan "$PY" "$PROBE" search 239.255.255.250 120 6 ssdp:all >"$TMP/mx120.json"
for f in mx5 mx120; do
  check "$TMP/$f.json" '
d = sorted(a["delay"] for a in r["ssdp:all"])
assert len(d) == 10, d
assert d[-1] < 5.3, "answered after %s s with MX 5" % d[-1]
assert d[-1] - d[0] > 0.2, "all ten answers at once: %s" % d
'
done
spread=$("$PY" -c 'import json,sys; d=sorted(a["delay"] for a in json.load(open(sys.argv[1]))["ssdp:all"]); print("%.2f-%.2f s" % (d[0], d[-1]))' "$TMP/mx5.json")
ok "MX 5: ten answers spread over $spread; MX 120 capped at 5 s"

# Unicast search: at once, MX or not.
lan "$PY" "$PROBE" search 10.77.0.1 - 1.5 "$IGD:1" upnp:rootdevice >"$TMP/uni.json"
check "$TMP/uni.json" '
for st, a in r.items():
    assert len(a) == 1, (st, a)
    assert a[0]["delay"] < 0.5, "unicast answer after %s s" % a[0]["delay"]
'
# Multicast without MX: discarded (UDA 1.1 1.3.2).
lan "$PY" "$PROBE" search 239.255.255.250 - 2 upnp:rootdevice >"$TMP/nomx.json"
check "$TMP/nomx.json" 'assert r["upnp:rootdevice"] == [], r'
ok "unicast M-SEARCH answered at once; multicast M-SEARCH without MX ignored"

# The second tenant: its own answers, its own gateway.
lan2 "$PY" "$PROBE" search 239.255.255.250 1 1.5 "$IGD:1" >"$TMP/lan2.json"
check "$TMP/lan2.json" '
a = r["urn:schemas-upnp-org:device:InternetGatewayDevice:1"]
assert len(a) == 1 and a[0]["headers"]["LOCATION"] == "http://10.77.0.1:5000/rootDesc.xml", a
'
ok "lan2 searched and answered from its own gateway"

wait "$sniff_pid" || fail "sniffer: $(cat "$TMP/sniff.json")"
check "$TMP/sniff.json" 'assert r["udp1900"] == 0, r'
st=$(ctl stats)
grep -Eq 'upnp/ssdp_malformed +[1-9]' <<<"$st" || fail "no malformed count: $(grep ssdp <<<"$st")"
grep -Eq 'upnp/ssdp_answers +[1-9]' <<<"$st" || fail "no answers counted: $(grep ssdp <<<"$st")"
ok "no SSDP datagram reached the WAN device; ssdp counters: $(grep -E 'upnp/ssdp_(searches|answers|malformed) ' <<<"$st" | tr -s ' ' | tr '\n' ' ')"

# From the outside: neither SSDP nor the control port answers.
wan "$PY" "$PROBE" search 203.0.113.1 - 1.5 upnp:rootdevice >"$TMP/wan.json"
check "$TMP/wan.json" 'assert r["upnp:rootdevice"] == [], r'
wan curl -s -m 2 -o /dev/null http://203.0.113.1:5000/rootDesc.xml &&
  fail "the control port answered from the WAN"
ok "from unat-wan: unicast M-SEARCH to 203.0.113.1:1900 unanswered, 203.0.113.1:5000 closed"

# Restart: byebye from the old unatd, then alive (x3) from the new one.
lan "$PY" "$PROBE" listen 10.77.0.2 6 >"$TMP/notify.json" 2>"$TMP/listen.err" &
listen_pid=$!
for _ in $(seq 50); do grep -q listening "$TMP/listen.err" && break; sleep 0.1; done
grep -q listening "$TMP/listen.err" || fail "listener: $(cat "$TMP/listen.err")"
sleep 1.2 # a BOOTID of the next second
"$LAB" restart
wait "$listen_pid" || fail "listener: $(cat "$TMP/listen.err")"
check "$TMP/notify.json" '
bye = [n for n in r if n["headers"].get("NTS") == "ssdp:byebye"]
alive = [n for n in r if n["headers"].get("NTS") == "ssdp:alive"]
assert len(bye) == 10, "byebyes: %d" % len(bye)
assert len({n["headers"]["NT"] for n in bye}) == 10, bye
assert all("LOCATION" not in n["headers"] for n in bye), bye
assert len(alive) == 30, "alives: %d" % len(alive)
assert len({n["headers"]["NT"] for n in alive}) == 10, alive
assert max(n["t"] for n in bye) <= min(n["t"] for n in alive), "alive before byebye"
old = {int(n["headers"]["BOOTID.UPNP.ORG"]) for n in bye}
new = {int(n["headers"]["BOOTID.UPNP.ORG"]) for n in alive}
assert len(old) == 1 and len(new) == 1 and min(new) > max(old), (old, new)
assert all(n["headers"]["LOCATION"] == "http://10.77.0.1:5000/rootDesc.xml" for n in alive)
'
ok "lab.sh restart: 10 NOTIFY ssdp:byebye at shutdown, then 3 x 10 ssdp:alive with a larger BOOTID"
