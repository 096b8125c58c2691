#!/usr/bin/env bash
# UPnP GENA eventing through unatd: a control point in unat-lan subscribes to
# the three event URLs; unatd opens TCP connections of its own to the
# callback and sends the initial events (SEQ 0, every evented variable), an
# event when upnpc adds a mapping (SEQ 1, PortMappingNumberOfEntries and
# SystemUpdateID), renewal, UNSUBSCRIBE (no event afterwards), the refusals
# (another host's callback, no NT, SID with NT, unknown SID), and failover
# to the second callback URL when the first refuses.
source "$(dirname "$0")/lib.sh"
need upnpc
UNAT_LAB_CONFIG_EXTRA='helpers { upnp: true }' "$LAB" up
URL=http://10.77.0.1:5000/rootDesc.xml

# The description announces eventing.
scpd=$(lan curl -sS -m 5 http://10.77.0.1:5000/WANIPCn.xml)
grep -q '<stateVariable sendEvents="yes"><name>PortMappingNumberOfEntries</name>' <<<"$scpd" ||
  fail "SCPD does not mark PortMappingNumberOfEntries evented: $scpd"
grep -q '<stateVariable sendEvents="yes"><name>SystemUpdateID</name>' <<<"$scpd" ||
  fail "SCPD lacks an evented SystemUpdateID"
grep -q '<eventSubURL>/evt/IPConn</eventSubURL>' <<<"$(lan curl -sS -m 5 "$URL")" ||
  fail "rootDesc.xml lacks the event URL"

lan "$PY" "$E2E_DIR/gena_subscriber.py" 10.77.0.1 10.77.0.2 "$URL" >"$TMP/gena.json" ||
  fail "subscriber: $(cat "$TMP/gena.json")"

check() {
  "$PY" - "$TMP/gena.json" "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
try:
    exec(sys.argv[2])
except (AssertionError, KeyError, IndexError, TypeError) as e:
    print("assertion failed:", repr(e), "| output:", json.dumps(r)[:2500])
    sys.exit(1)
EOF
}

check '
s = r["sub"]
assert s["status"] == 200 and s["sid"].startswith("uuid:") and s["timeout"] == "Second-300", s
ev = r["initial"]
assert len(ev) == 1, ev
e = ev[0]
assert e["seq"] == 0 and e["nt"] == "upnp:event" and e["nts"] == "upnp:propchange", e
assert e["path"] == "/events" and e["host"] == "10.77.0.2:49000", e
p = e["props"]
assert p["ExternalIPAddress"] == "203.0.113.1" and p["ConnectionStatus"] == "Connected", p
assert p["PossibleConnectionTypes"] == "IP_Routed" and p["PortMappingNumberOfEntries"] == "0", p
assert "SystemUpdateID" in p, p
'
ok "SUBSCRIBE /evt/IPConn: 200, SID, TIMEOUT Second-300; initial event SEQ 0 with the five evented variables"

check '
assert "is redirected to internal 10.77.0.2:8081" in r["upnpc_add"], r["upnpc_add"]
ev = r["after_add"]
assert len(ev) == 2, ev
e = ev[1]
assert e["seq"] == 1, e
assert e["props"]["PortMappingNumberOfEntries"] == "1", e
assert int(e["props"]["SystemUpdateID"]) > int(ev[0]["props"]["SystemUpdateID"]), ev
assert "ExternalIPAddress" not in e["props"], e
assert r["add_to_event_s"] < 3.0, r["add_to_event_s"]
'
ok "upnpc -a: event SEQ 1 with PortMappingNumberOfEntries 1 and a new SystemUpdateID only, $(
  "$PY" -c 'import json,sys; print("%.2f" % json.load(open(sys.argv[1]))["add_to_event_s"])' "$TMP/gena.json") s after the request"

check '
rn = r["renew"]
assert rn["status"] == 200 and rn["sid"] == r["sub"]["sid"] and rn["timeout"] == "Second-600", rn
p1 = r["initial1"][0]["props"]
assert r["sub1"]["status"] == 200 and "SystemUpdateID" not in p1 and p1["PortMappingNumberOfEntries"] == "1", p1
pc = r["initialcommon"][0]["props"]
assert pc == {"PhysicalLinkStatus": "Up"}, pc
'
ok "renewal keeps the SID; /evt/IPConn1 (IGD:1 variables) and /evt/CmnIfCfg (PhysicalLinkStatus) have their own events"

check '
assert r["other_host"]["status"] == 412, r["other_host"]
assert r["no_nt"]["status"] == 412, r["no_nt"]
assert r["sid_and_nt"]["status"] == 400, r["sid_and_nt"]
assert r["unknown_sid"]["status"] == 412, r["unknown_sid"]
assert r["get_evt"]["status"] == 405, r["get_evt"]
'
ok "refused: callback to another host 412, no NT 412, SID with NT 400, unknown SID 412, GET 405"

check '
f = r["failover"]
assert r["sub_failover"]["status"] == 200 and len(f) >= 1, r["failover"]
assert f[0]["path"] == "/second" and f[0]["seq"] == 0, f
assert r["unsub"]["status"] == 200, r["unsub"]
assert r["after_unsub"] == r["after_add"], r["after_unsub"]
assert any(e["props"].get("PortMappingNumberOfEntries") == "0" for e in r["failover_all"]), r["failover_all"]
assert any(e["props"].get("PortMappingNumberOfEntries") == "0" for e in r["v1_all"]), r["v1_all"]
'
ok "a refusing first callback: the event goes to the second; after UNSUBSCRIBE no event, the other subscribers see upnpc -d"

st=$(ctl stats)
for c in upnp/gena/subscribed upnp/gena/events_sent upnp/tcp/opened; do
  grep -Eq "$c +[1-9]" <<<"$st" || fail "counter $c: $(grep -E 'gena|tcp/' <<<"$st")"
done
ok "counters: $(grep -E 'upnp/gena/(subscribed|events_sent|events_failed|refused) ' <<<"$st" | tr -s ' ' | tr '\n' ' ')"
