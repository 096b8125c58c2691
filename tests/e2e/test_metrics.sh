#!/usr/bin/env bash
# `unatctl metrics` (issue 19, first slice): unatd's counters in the
# Prometheus text format, checked by Prometheus's own promtool, with the
# values traffic through the lab made: flows per tenant, packets each way,
# a drop by its reason, NAT-PMP and helper counters by label.
source "$(dirname "$0")/lib.sh"
need promtool natpmpc
UNAT_LAB_CONFIG_EXTRA='helpers { natpmp: true ftp: true }' "$LAB" up

lan ping -c 3 -i 0.2 -W 2 203.0.113.2 >/dev/null || fail "lan cannot ping wan"
lan2 ping -c 2 -i 0.2 -W 2 203.0.113.2 >/dev/null || fail "lan2 cannot ping wan"
out=$(lan natpmpc -g 10.77.0.1 -a 8080 80 tcp 60 2>&1) || fail "natpmpc -a: $out"
# Something with no flow: a datagram to the external address's closed port.
wan "$PY" -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x', ('203.0.113.1', 9))"
sleep 0.5

ctl metrics >"$TMP/m.txt" || fail "unatctl metrics failed: $(cat "$TMP/m.txt")"
check=$(promtool check metrics <"$TMP/m.txt" 2>&1) || fail "promtool check metrics: $check"
[ -z "$check" ] || fail "promtool check metrics complains: $check"
ok "promtool check metrics accepts unatctl metrics ($(grep -c '^# TYPE' "$TMP/m.txt") families, $(grep -vc '^#' "$TMP/m.txt") samples)"

# value NAME{LABELS}: the sample's value (empty when absent).
value() { awk -v k="$1" '$1 == k {print $2}' "$TMP/m.txt"; }
v=$(value 'unat_namespace_packets_total{namespace="lan",direction="out"}')
[ "${v:-0}" -ge 3 ] || fail "lan's packets out: ${v:-absent}"
v=$(value 'unat_namespace_packets_total{namespace="lan2",direction="out"}')
[ "${v:-0}" -ge 2 ] || fail "lan2's packets out: ${v:-absent}"
v=$(value 'unat_packets_total{direction="in"}')
[ "${v:-0}" -ge 5 ] || fail "packets in: ${v:-absent}"
v=$(value 'unat_flows{protocol="icmp"}')
[ -n "$v" ] || fail "no icmp flow gauge"
v=$(value 'unat_forwards')
[ "${v:-0}" -ge 1 ] || fail "the NAT-PMP lease is not among the forwards: ${v:-absent}"
drops=$(awk '$1 ~ /^unat_drops_total\{reason="/ && $2 > 0' "$TMP/m.txt")
[ -n "$drops" ] || fail "no drop counted by reason: $(grep unat_drops_total "$TMP/m.txt" | head -5)"
grep -q '^unat_helper_events_total{helper="ftp",counter=' "$TMP/m.txt" ||
  fail "no ftp helper counters"
grep -q '^unat_portmap_events_total{protocol="natpmp"' "$TMP/m.txt" ||
  fail "no NAT-PMP counters"
grep -q '^unat_device_packets_total{namespace="outside",device="unatw0",direction="tx"}' "$TMP/m.txt" ||
  fail "no outside device counters"
ok "the values: lan and lan2's packets, packets in, the lease as a forward, drops by reason ($(printf '%s' "$drops" | head -1)), ftp and NAT-PMP counters, devices"
