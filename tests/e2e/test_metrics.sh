#!/usr/bin/env bash
# `unatctl metrics` (issue 19, first slice): unatd's counters in the
# Prometheus text format, checked by Prometheus's own promtool, with the
# values traffic through the lab made: flows per tenant, packets each way,
# a drop by its reason, NAT-PMP and helper counters by label.
#
# Then the same text over HTTP from unatd itself (metrics_listen, in unatd's
# own namespace unat-nat): GET and HEAD, 404, 405, an oversized header, the
# cap of 8 connections and the 5 s timeout, the flag over the field, a port
# already taken.
source "$(dirname "$0")/lib.sh"
need promtool natpmpc curl
UNAT_LAB_CONFIG_EXTRA='helpers { natpmp: true ftp: true }
metrics_listen: "127.0.0.1:9469"' "$LAB" up

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

# --- GET /metrics from unatd (metrics_listen) --------------------------------
nat() { ip netns exec unat-nat "$@"; }
URL=http://127.0.0.1:9469/metrics
listening=$(nat ss -Hltn 'sport = :9469')
[ -n "$listening" ] || fail "nothing listens on 127.0.0.1:9469 in unat-nat"
# Both readings back to back, nothing in between that counts traffic.
code=$(nat curl -sS -m 5 -D "$TMP/h.txt" -o "$TMP/http.txt" -w '%{http_code}' "$URL") ||
  fail "curl $URL failed: $code"
ctl metrics >"$TMP/m.txt" || fail "unatctl metrics failed"
[ "$code" = 200 ] || fail "GET /metrics: $code"
headers=$(tr -d '\r' <"$TMP/h.txt")
[[ "$headers" == *$'\nContent-Type: text/plain; version=0.0.4; charset=utf-8\n'* ]] ||
  fail "GET /metrics headers: $headers"
[[ "$headers" == *$'\nContent-Length: '"$(wc -c <"$TMP/http.txt")"$'\n'* ]] ||
  fail "Content-Length is not the body's $(wc -c <"$TMP/http.txt") bytes: $headers"
[[ "$headers" == *$'\nConnection: close\n'* ]] || fail "no Connection: close: $headers"
check=$(promtool check metrics <"$TMP/http.txt" 2>&1) || fail "promtool check metrics (HTTP): $check"
[ -z "$check" ] || fail "promtool check metrics complains about the HTTP text: $check"
# hvalue NAME{LABELS}: the sample's value in the HTTP text.
hvalue() { awk -v k="$1" '$1 == k {print $2}' "$TMP/http.txt"; }
for k in 'unat_namespace_packets_total{namespace="lan",direction="out"}' \
  'unat_portmap_leases{protocol="natpmp"}' unat_forwards 'unat_flows_created_total'; do
  a=$(hvalue "$k")
  b=$(value "$k")
  [ -n "$a" ] && [ "$a" = "$b" ] || fail "$k: HTTP says ${a:-absent}, unatctl metrics ${b:-absent}"
done
[ "$(hvalue 'unat_portmap_leases{protocol="natpmp"}')" -ge 1 ] || fail "the NAT-PMP lease is not in unat_portmap_leases"
rss=$(hvalue unat_process_resident_memory_bytes)
[ "${rss:-0}" -gt 1000000 ] || fail "unat_process_resident_memory_bytes: ${rss:-absent}"
pid=$("$LAB" pid)
rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
# Within a factor of two of what the kernel says now.
[ $((rss / 1024)) -lt $((rss_kb * 2)) ] && [ $((rss / 1024 * 2)) -gt "$rss_kb" ] ||
  fail "resident memory $rss bytes, /proc says VmRSS $rss_kb kB"
em=$(hvalue unat_engine_memory_bytes)
[ "${em:-0}" -gt 0 ] || fail "unat_engine_memory_bytes: ${em:-absent}"
grep -q '^unat_metrics_http_requests_total{code="200"} ' "$TMP/http.txt" ||
  fail "no unat_metrics_http_requests_total{code=\"200\"}"
ok "GET /metrics: 200, text/plain 0.0.4, promtool accepts it, equal to unatctl metrics (lan's packets, natpmp leases $(hvalue 'unat_portmap_leases{protocol="natpmp"}'), forwards, flows created); RSS $((rss / 1024)) kB (VmRSS $rss_kb kB), engine $em bytes"

code=$(nat curl -sS -m 5 -I -o "$TMP/head.txt" -w '%{http_code} %{size_download}' "$URL")
[ "$code" = "200 0" ] || fail "HEAD /metrics: $code"
grep -q '^Content-Length: [1-9]' "$TMP/head.txt" || fail "HEAD: no Content-Length: $(cat "$TMP/head.txt")"
code=$(nat curl -sS -m 5 -o /dev/null -w '%{http_code}' "$URL?name%5B%5D=unat_forwards")
[ "$code" = 200 ] || fail "GET /metrics?query: $code"
code=$(nat curl -sS -m 5 -o /dev/null -w '%{http_code}' --http1.0 "$URL")
[ "$code" = 200 ] || fail "GET /metrics HTTP/1.0: $code"
code=$(nat curl -sS -m 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:9469/other)
[ "$code" = 404 ] || fail "GET /other: $code"
code=$(nat curl -sS -m 5 -D "$TMP/h405.txt" -o /dev/null -w '%{http_code}' -X POST -d x=1 "$URL")
[ "$code" = 405 ] || fail "POST /metrics: $code"
grep -q '^Allow: GET, HEAD' "$TMP/h405.txt" || fail "405 without Allow: $(cat "$TMP/h405.txt")"
bad=$(nat "$PY" -c "import socket; s=socket.create_connection(('127.0.0.1', 9469)); s.sendall(b'NOT HTTP\r\n\r\n'); s.settimeout(3); print(s.recv(100).split(b'\r\n')[0].decode())")
[ "$bad" = "HTTP/1.1 400 Bad Request" ] || fail "malformed request: $bad"
ok "HEAD 200 without a body, a query string and HTTP/1.0 200, /other 404, POST 405 with Allow, garbage 400"

out=$(nat "$PY" "$E2E_DIR/metrics_probe.py" oversized 127.0.0.1 9469) || fail "$out"
ok "$out"
out=$(nat "$PY" "$E2E_DIR/metrics_probe.py" cap 127.0.0.1 9469) || fail "$out"
ok "${out//$'\n'/; }"

# The endpoint counted all that, and unatd forwards as before.
nat curl -sS -m 5 -o "$TMP/http2.txt" "$URL" || fail "GET /metrics after the abuse"
hvalue2() { awk -v k="$1" '$1 == k {print $2}' "$TMP/http2.txt"; }
[ "$(hvalue2 'unat_metrics_http_connections_total{result="refused"}')" -ge 2 ] ||
  fail "refused connections: $(grep unat_metrics_http_connections_total "$TMP/http2.txt")"
[ "$(hvalue2 unat_metrics_http_timeouts_total)" -ge 8 ] ||
  fail "timeouts: $(hvalue2 unat_metrics_http_timeouts_total)"
for c in 404 405 400 431; do
  [ "$(hvalue2 "unat_metrics_http_requests_total{code=\"$c\"}")" -ge 1 ] ||
    fail "no $c counted: $(grep unat_metrics_http_requests_total "$TMP/http2.txt")"
done
[ "$(hvalue2 unat_metrics_http_connections)" = 1 ] ||
  fail "connections open now: $(hvalue2 unat_metrics_http_connections) (only this one)"
lan ping -c 2 -i 0.2 -W 2 203.0.113.2 >/dev/null || fail "lan cannot ping wan after the abuse"
"$LAB" pid >/dev/null || fail "unatd died"
ok "counted: refused $(hvalue2 'unat_metrics_http_connections_total{result="refused"}'), timeouts $(hvalue2 unat_metrics_http_timeouts_total), 400/404/405/431; unatd still forwards"

# The flag overrides the field.
"$LAB" restart -- --metrics-listen 127.0.0.1:9470
code=$(nat curl -sS -m 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:9470/metrics) ||
  fail "GET :9470 failed: $code"
[ "$code" = 200 ] || fail "GET :9470/metrics: $code"
if nat curl -sS -m 2 -o /dev/null http://127.0.0.1:9469/metrics 2>/dev/null; then
  fail "9469 still answers with --metrics-listen 127.0.0.1:9470"
fi
ok "--metrics-listen 127.0.0.1:9470 overrides metrics_listen (9469 closed)"

# A port already taken: unatd does not start, and says which field.
nat "$PY" -c "import socket, time
s = socket.socket(); s.bind(('127.0.0.1', 9471)); s.listen(1); time.sleep(60)" &
taker=$!
for ((i = 0; i < 50; i++)); do
  busy=$(nat ss -Hltn 'sport = :9471')
  [ -z "$busy" ] || break
  sleep 0.1
done
[ -n "$busy" ] || fail "the port taker does not listen"
"$LAB" stop
if "$LAB" start -- --metrics-listen 127.0.0.1:9471 2>"$TMP/start.err"; then
  fail "unatd started on a port already taken"
fi
kill "$taker"
wait "$taker" 2>/dev/null || true
grep -q 'metrics_listen: binding 127.0.0.1:9471: Address already in use' "$TMP/start.err" ||
  fail "start on a taken port said: $(cat "$TMP/start.err")"
"$LAB" start
code=$(nat curl -sS -m 5 -o /dev/null -w '%{http_code}' "$URL")
[ "$code" = 200 ] || fail "GET /metrics after the restart: $code"
ok "a port already taken: unatd refuses to start ($(grep -o 'metrics_listen: .*' "$TMP/start.err" | head -1)); it starts again once free"
