#!/usr/bin/python3
"""A scripted UPnP IGD round trip with python3-miniupnpc (e2e).

  upnp_roundtrip.py SYNC_DIR

Run inside unat-lan (10.77.0.2). Discovers the IGD by SSDP, checks what the
module reports, maps external TCP 8081 to 10.77.0.2:8081 for 3600 s, writes
SYNC_DIR/mapped and waits (20 s at most) for SYNC_DIR/go, which the test
writes once it has used the mapping from the WAN (a download of
SYNC_DIR/size bytes); then checks the traffic counters, the listings, the
conflict with a NAT-PMP mapping on external 8090 (made by the test before),
AddAnyPortMapping and the deletes. Prints one "ok: ..." line per check and
exits 1 at the first mismatch (its "FAIL: ..." line says what it got)."""
import os
import sys
import time

import miniupnpc

GW_CONTROL = "http://10.77.0.1:5000/ctl/IPConn"
ME = "10.77.0.2"


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg, flush=True)


def expect(what, got, want):
    if got != want:
        fail("%s: got %r, want %r" % (what, got, want))


def upnp_error(call, *args):
    """The UPnP error text miniupnpc raised for call(*args), or fail."""
    try:
        r = call(*args)
    except Exception as e:  # miniupnpc raises plain Exception(strupnperror)
        return str(e)
    fail("%s%r succeeded: %r" % (call.__name__, args, r))


def totals(u):
    return {"bytes_sent": u.totalbytesent(), "bytes_received": u.totalbytereceived(),
            "packets_sent": u.totalpacketsent(),
            "packets_received": u.totalpacketreceived()}


def main():
    sync = sys.argv[1]
    u = miniupnpc.UPnP()
    u.discoverdelay = 1000  # ms; unat answers at once
    n = u.discover()
    if n < 1:
        fail("discover() found %r devices" % n)
    ok("discover(): %d device(s) answered the SSDP search" % n)
    # selectigd() runs UPNP_GetValidIGD and returns the control URL for any
    # IGD it found, also one it calls "not connected" (upnpc needs -i for
    # that: 203.0.113.1 is a reserved address); the module does not say
    # which, so this checks only that it picked unat's IGD.
    expect("selectigd()", u.selectigd(), GW_CONTROL)
    expect("lanaddr", u.lanaddr, ME)
    ok("selectigd() -> %s, lanaddr %s" % (GW_CONTROL, ME))

    expect("externalipaddress()", u.externalipaddress(), "203.0.113.1")
    status, uptime, err = u.statusinfo()
    expect("statusinfo() status", status, "Connected")
    expect("statusinfo() error", err, "ERROR_NONE")
    if not (isinstance(uptime, int) and 0 <= uptime < 600):
        fail("statusinfo() uptime %r" % uptime)
    expect("connectiontype()", u.connectiontype(), "IP_Routed")
    ok("externalipaddress 203.0.113.1, statusinfo (Connected, %d s, ERROR_NONE), "
       "connectiontype IP_Routed" % uptime)
    # Not an action of the standard WANIPConnection service (a miniupnpd
    # extension), and unat does not offer it.
    expect("getportmappingnumberofentries()",
           upnp_error(u.getportmappingnumberofentries), "Invalid Action")
    ok("getportmappingnumberofentries(): Invalid Action (401), not offered")

    before = totals(u)
    for k, v in before.items():
        if not isinstance(v, int) or v < 0:
            fail("%s: %r" % (k, v))

    expect("addportmapping", u.addportmapping(8081, "TCP", ME, 8081,
                                              "py round trip", "", 3600), True)
    got = u.getspecificportmapping(8081, "TCP")
    if got is None:
        fail("getspecificportmapping(8081) found nothing")
    host, iport, desc, enabled, lease = got
    expect("getspecificportmapping", (host, iport, desc, enabled),
           (ME, 8081, "py round trip", True))
    if not 3500 <= lease <= 3600:
        fail("getspecificportmapping lease %r" % lease)
    ok("addportmapping(8081 TCP -> %s:8081, 3600 s); getspecificportmapping: "
       "%r" % (ME, got))
    # Another host's address: refused (606), nothing made.
    expect("third party", upnp_error(u.addportmapping, 8095, "TCP", "10.77.0.9",
                                     80, "not mine", "", 600),
           "Action not authorized")
    expect("third party left nothing", u.getspecificportmapping(8095, "TCP"), None)
    ok("addportmapping for 10.77.0.9: Action not authorized (606), nothing made")

    with open(os.path.join(sync, "mapped"), "w") as f:
        f.write("%d\n" % lease)
    deadline = time.monotonic() + 20
    while not os.path.exists(os.path.join(sync, "go")):
        if time.monotonic() > deadline:
            fail("the test never wrote %s/go" % sync)
        time.sleep(0.05)
    with open(os.path.join(sync, "size")) as f:
        size = int(f.read())

    # The WAN download went through unat: its bytes arrived inside and went
    # out ("sent"), the request came from outside ("received").
    after = totals(u)
    if after["bytes_sent"] - before["bytes_sent"] < size:
        fail("totalbytesent grew %d, less than the %d-byte download" %
             (after["bytes_sent"] - before["bytes_sent"], size))
    if after["bytes_received"] <= before["bytes_received"]:
        fail("totalbytereceived did not grow: %r -> %r" % (before, after))
    if after["packets_sent"] - before["packets_sent"] < size // 1500:
        fail("totalpacketsent grew %d" % (after["packets_sent"] - before["packets_sent"]))
    if after["packets_received"] <= before["packets_received"]:
        fail("totalpacketreceived did not grow: %r -> %r" % (before, after))
    ok("totalbytesent +%d (>= the %d-byte download), totalbytereceived +%d, "
       "totalpacketsent +%d, totalpacketreceived +%d" % (
           after["bytes_sent"] - before["bytes_sent"], size,
           after["bytes_received"] - before["bytes_received"],
           after["packets_sent"] - before["packets_sent"],
           after["packets_received"] - before["packets_received"]))

    # NAT-PMP holds external TCP 8090 (the test mapped it for
    # 10.77.0.2:8090): AddPortMapping gets 718, AddAnyPortMapping another
    # port.
    expect("8090 (NAT-PMP's)", upnp_error(u.addportmapping, 8090, "TCP", ME, 8091,
                                          "taken", "", 600),
           "ConflictInMappingEntry")
    # (the module passes no lease here: 0, the maximum)
    anyport = u.addanyportmapping(8090, "TCP", ME, 8091, "py any", "")
    if not isinstance(anyport, int) or anyport in (8090, 8081) or anyport < 1024:
        fail("addanyportmapping(8090) -> %r" % anyport)
    got = u.getspecificportmapping(anyport, "TCP")
    if got is None or got[:3] != (ME, 8091, "py any"):
        fail("getspecificportmapping(%d) -> %r" % (anyport, got))
    ok("NAT-PMP's 8090: addportmapping -> ConflictInMappingEntry (718); "
       "addanyportmapping -> %d" % anyport)

    # Listing by index, sorted by protocol then port: 8081, then the
    # AddAny port, plus NAT-PMP's 8090 lease (all owners).
    entries = []
    i = 0
    while True:
        e = u.getgenericportmapping(i)
        if e is None:
            break
        entries.append(e)
        i += 1
        if i > 10:
            fail("getgenericportmapping never ends: %r" % entries)
    ports = [e[0] for e in entries]
    expect("getgenericportmapping ports", ports, sorted([8081, 8090, anyport]))
    e8081 = entries[ports.index(8081)]
    expect("entry 8081", e8081[:6], (8081, "TCP", (ME, 8081), "py round trip", "1", ""))
    e8090 = entries[ports.index(8090)]
    expect("entry 8090 (NAT-PMP's)", (e8090[0], e8090[1], e8090[2]),
           (8090, "TCP", (ME, 8090)))
    ok("getgenericportmapping(0..%d): %r" % (len(entries) - 1, ports))

    # Deletes: ours, then the same again (714); NAT-PMP's is not ours (606).
    expect("deleteportmapping(8081)", u.deleteportmapping(8081, "TCP"), True)
    expect("deleted 8081", u.getspecificportmapping(8081, "TCP"), None)
    expect("deleteportmapping(8081) again",
           upnp_error(u.deleteportmapping, 8081, "TCP"), "NoSuchEntryInArray")
    expect("deleteportmapping(8090)", upnp_error(u.deleteportmapping, 8090, "TCP"),
           "Action not authorized")
    # DeletePortMappingRange (manage 0: own UPnP mappings only) takes the
    # AddAny one and leaves NAT-PMP's.
    expect("deleteportmappingrange", u.deleteportmappingrange(1024, 65535, "TCP", 0),
           True)
    expect("after range delete", u.getspecificportmapping(anyport, "TCP"), None)
    if u.getspecificportmapping(8090, "TCP") is None:
        fail("the range delete took NAT-PMP's 8090")
    # Again: only NAT-PMP's lease is left in the range (not ours: 606); a
    # range without any lease: 730, which miniupnpc 2.2.4's strupnperror()
    # has no name for ("UnknownError"; the test checks unatd's
    # upnp/fault/730 counter).
    expect("range delete again",
           upnp_error(u.deleteportmappingrange, 1024, 65535, "TCP", 0),
           "Action not authorized")
    expect("range delete of nothing",
           upnp_error(u.deleteportmappingrange, 9000, 65535, "TCP", 0),
           "UnknownError")
    ok("deleteportmapping(8081); again -> NoSuchEntryInArray (714); NAT-PMP's "
       "8090 -> Action not authorized (606); deleteportmappingrange removes %d, "
       "keeps 8090; again -> Action not authorized (606); an empty range -> "
       "730 (UnknownError to miniupnpc)" % anyport)


if __name__ == "__main__":
    main()
