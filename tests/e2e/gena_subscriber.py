#!/usr/bin/python3
"""A GENA (UPnP eventing) control point for the e2e tests, stdlib only.

  gena_subscriber.py GATEWAY MY_ADDR UPNPC_URL

Runs in the lan namespace. Listens for NOTIFY on MY_ADDR:49000, subscribes
to the IGD's three event URLs, changes the mapping table with upnpc (a real
control point) and records what unatd sends. Prints one JSON document with
every answer and event; the shell test asserts on it.
"""
import http.client
import http.server
import json
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

GATEWAY, ME, URL = sys.argv[1], sys.argv[2], sys.argv[3]
PORT = 49000
events = []
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_NOTIFY(self):  # noqa: N802 (the HTTP method's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        props = {}
        root = ET.fromstring(body)
        for prop in root.findall("{urn:schemas-upnp-org:event-1-0}property"):
            for var in prop:
                props[var.tag] = var.text or ""
        with lock:
            events.append({
                "t": time.monotonic(),
                "path": self.path,
                "sid": self.headers.get("SID"),
                "seq": int(self.headers.get("SEQ", "-1")),
                "nt": self.headers.get("NT"),
                "nts": self.headers.get("NTS"),
                "host": self.headers.get("HOST"),
                "props": props,
            })
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer((ME, PORT), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()


def request(method, path, headers):
    c = http.client.HTTPConnection(GATEWAY, 5000, timeout=5)
    c.request(method, path, headers=headers)
    r = c.getresponse()
    r.read()
    out = {"status": r.status, "sid": r.getheader("SID"),
           "timeout": r.getheader("TIMEOUT")}
    c.close()
    return out


def subscribe(path, callback, timeout="Second-300"):
    return request("SUBSCRIBE", path, {"CALLBACK": callback, "NT": "upnp:event",
                                       "TIMEOUT": timeout})


def wait_events(sid, n, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with lock:
            got = [e for e in events if e["sid"] == sid]
        if len(got) >= n:
            return got
        time.sleep(0.05)
    with lock:
        return [e for e in events if e["sid"] == sid]


def upnpc(*args):
    return subprocess.run(["upnpc", "-i", "-u", URL] + list(args),
                          capture_output=True, text=True, timeout=20).stdout


out = {}
cb = "<http://%s:%d/events>" % (ME, PORT)
out["sub"] = s = subscribe("/evt/IPConn", cb)
sid = s["sid"]
out["initial"] = wait_events(sid, 1)
t_add = time.monotonic()
out["upnpc_add"] = upnpc("-e", "gena", "-a", ME, "8081", "8085", "TCP", "600")
out["after_add"] = wait_events(sid, 2)
out["add_to_event_s"] = (out["after_add"][-1]["t"] - t_add
                         if len(out["after_add"]) >= 2 else None)
out["renew"] = request("SUBSCRIBE", "/evt/IPConn",
                       {"SID": sid, "TIMEOUT": "Second-600"})
out["sub1"] = s1 = subscribe("/evt/IPConn1", cb)
out["initial1"] = wait_events(s1["sid"], 1)
out["subcommon"] = sc = subscribe("/evt/CmnIfCfg", cb)
out["initialcommon"] = wait_events(sc["sid"], 1)
# Refused: a callback naming another host, no NT, SID with NT, unknown SID.
out["other_host"] = subscribe("/evt/IPConn", "<http://10.77.0.9:%d/>" % PORT)
out["no_nt"] = request("SUBSCRIBE", "/evt/IPConn", {"CALLBACK": cb})
out["sid_and_nt"] = request("SUBSCRIBE", "/evt/IPConn",
                            {"SID": sid, "NT": "upnp:event"})
out["unknown_sid"] = request("UNSUBSCRIBE", "/evt/IPConn",
                             {"SID": "uuid:00000000-0000-0000-0000-000000000000"})
out["get_evt"] = request("GET", "/evt/IPConn", {})
# A callback nobody listens on, then ours: the event goes to the second.
out["sub_failover"] = sf = subscribe(
    "/evt/IPConn", "<http://%s:49001/none><http://%s:%d/second>" % (ME, ME, PORT))
out["failover"] = wait_events(sf["sid"], 1)
# Unsubscribe the first: no event for it when the table changes again.
out["unsub"] = request("UNSUBSCRIBE", "/evt/IPConn", {"SID": sid})
out["upnpc_del"] = upnpc("-d", "8085", "TCP")
time.sleep(2.5)
with lock:
    out["after_unsub"] = [e for e in events if e["sid"] == sid]
    out["failover_all"] = [e for e in events if e["sid"] == sf["sid"]]
    out["v1_all"] = [e for e in events if e["sid"] == s1["sid"]]
server.shutdown()
print(json.dumps(out))
