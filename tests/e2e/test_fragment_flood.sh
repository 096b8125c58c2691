#!/usr/bin/env bash
# A flood of fragments that never complete (bounded: 20000 packets, 20 s)
# from the wan host at unatd's external address: reassembly memory stays
# under the configured cap, the excess is counted, and normal traffic still
# flows during and after it.
source "$(dirname "$0")/lib.sh"
UNAT_LAB_CONFIG_EXTRA='fragments { max_bytes: 262144 }' "$LAB" up
stats_json() { ctl --json stats | json "$1"; }
drop() { ctl --json stats | json "[int(c.get('value', 0)) for c in d['stats']['drops'] if c['name'] == '$1'][0]"; }

sent=$(wan "$PY" "$E2E_DIR/frag_flood.py" 203.0.113.2 203.0.113.1 20000 20)
[ "$sent" -ge 5000 ] || fail "flood sent only $sent fragments"
held=$(stats_json 'int(d["stats"].get("fragment_bytes_held", 0))')
[ "$held" -le 262144 ] || fail "reassembly holds $held bytes, over the 262144 cap"
[ "$(drop fragment_memory_limit)" -gt 0 ] || fail "memory cap never hit: $(ctl stats | grep fragment)"
ok "flood of $sent fragments: $held bytes held (cap 262144), excess counted"

lan ping -n -c 3 -i 0.2 -W 2 203.0.113.2 >/dev/null || fail "ping after the flood"
lan ping -n -c 2 -i 0.2 -W 3 -s 3000 203.0.113.2 >/dev/null ||
  fail "fragmented ping from inside after the flood"
ok "normal and fragmented traffic still flows"
