#!/usr/bin/env bash
# Issue 13 defect 1: spoofed SYNs (and datagrams) from the WAN at a static forward must not
# cut the inside host off. 8000 SYNs from random sources (hping3
# --rand-source) hit 203.0.113.1:8080 -> lan 10.77.0.2:8000 with the host's
# flow budget at 2000: the half-open flows stay off that budget (at most
# max_half_open_per_forward, 1024, the oldest evicted), so during and after
# the flood the host still pings, curls and sends UDP to the WAN, a real
# WAN client still gets through the forward, and lan2 is untouched. Then
# the same with 8000 spoofed UDP datagrams at a UDP forward the host does
# not answer (unanswered inbound UDP flows are kept off the budget the same
# way, and end after udp_inbound_unanswered_s).
source "$(dirname "$0")/lib.sh"
need hping3
UNAT_LAB_CONFIG_EXTRA='limits { max_flows_per_host: 2000 }
forward { proto: TCP external_port: 8080 namespace: "lan" inside_address: "10.77.0.2" inside_port: 8000 }
forward { proto: UDP external_port: 5353 namespace: "lan" inside_address: "10.77.0.2" inside_port: 5353 }' \
  "$LAB" up

mkdir -p "$TMP/lan" "$TMP/wan"
echo "inside server" >"$TMP/lan/who.txt"
echo "wan server" >"$TMP/wan/who.txt"
http_server unat-lan "$TMP/lan" 10.77.0.2 8000
http_server unat-wan "$TMP/wan" 203.0.113.2 8000
bg unat-wan "$PY" "$E2E_DIR/udp_echo.py" serve 203.0.113.2 7
wait_udp unat-wan 7

served() {
  [ "$(wan curl -sS -m 5 http://203.0.113.1:8080/who.txt)" = "inside server" ] ||
    fail "$1: the forward does not serve the WAN client"
  [ "$(lan curl -sS -m 5 http://203.0.113.2:8000/who.txt)" = "wan server" ] ||
    fail "$1: lan's host lost outbound TCP"
  lan ping -c 1 -W 2 203.0.113.2 >/dev/null || fail "$1: lan's host lost ping"
  [ "$(lan "$PY" "$E2E_DIR/udp_echo.py" ask 203.0.113.2 7 100)" = ok ] ||
    fail "$1: lan's host lost UDP"
  [ "$(lan2 curl -sS -m 5 http://203.0.113.2:8000/who.txt)" = "wan server" ] ||
    fail "$1: lan2 lost outbound TCP"
}
served "before the flood"

wan hping3 -S --rand-source -p 8080 -i u250 -c 8000 -q 203.0.113.1 >/dev/null 2>&1 &
flood=$!
rss_before=$(awk '/^VmRSS/ {print $2}' "/proc/$("$LAB" pid)/status")
sleep 0.5
served "during the flood"
lan2 ping -c 20 -i 0.05 -W 1 -q 203.0.113.2 >"$TMP/ping2" 2>&1 || true
received=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$TMP/ping2")
[ "${received:-0}" -ge 18 ] || fail "lan2 lost pings during the flood: $(cat "$TMP/ping2")"
wait "$flood" || true
rss_after=$(awk '/^VmRSS/ {print $2}' "/proc/$("$LAB" pid)/status")
echo "  (lan2 ping during the flood: $received/20; unatd RSS ${rss_before} -> ${rss_after} kB)"
evicted=$(stat_field half_open_evicted)
half_open=$(stat_field half_open_inbound)
[ "$evicted" -gt 0 ] || fail "no half-open flow was evicted ($(ctl stats | head -5))"
[ "$half_open" -le 1024 ] || fail "$half_open half-open flows, cap 1024"
[ "$(drop_count host_flow_limit)" -eq 0 ] || fail "the host hit its flow budget"
served "after the flood"
ok "8000 spoofed SYNs: $half_open half-open kept, $evicted evicted, host_flow_limit 0; lan, lan2 and the forward served throughout"

evicted_tcp=$evicted
wan hping3 --udp --rand-source -p 5353 -i u250 -c 8000 -d 32 -q 203.0.113.1 >/dev/null 2>&1 &
flood=$!
sleep 0.5
served "during the UDP flood"
wait "$flood" || true
evicted=$(($(stat_field half_open_evicted) - evicted_tcp))
[ "$evicted" -gt 0 ] || fail "no unanswered UDP flow was evicted"
[ "$(drop_count host_flow_limit)" -eq 0 ] || fail "the UDP flood took the host's flow budget"
served "after the UDP flood"
ok "8000 spoofed UDP datagrams at a forward: $evicted unanswered flows evicted, host_flow_limit 0; everyone served"

# Blind handshake completion: spoofed SYNs the host answers (its SYN-ACKs go
# to addresses that are nobody's), each followed by an ACK and a FIN|ACK
# guessing at the host's ISN. Only the exact acknowledgement completes a
# handshake, so 2500 of them (more than the host's budget of 2000, in
# batches under the half-open cap) stay half-open and evictable.
evicted_before=$(stat_field half_open_evicted)
wan "$PY" "$E2E_DIR/blind_ack.py" 203.0.113.1 8080 5 500
served "after the blind ACKs"
[ "$(drop_count host_flow_limit)" -eq 0 ] || fail "blind ACKs put flows on the host's budget"
# The flows' states, e.g. "SYN_RECV:1020 CLOSED:1". CLOSED is a handshake
# the host's RST ended (a blind ACK whose guess fell in the window makes the
# host answer with a RST the tracker believes): not completed, and still
# off the host's budget (host_flow_limit stays 0). Any other state is a
# completed handshake.
flows_json=$(ctl --json flows --proto tcp)
states=$(json "' '.join('%s:%d' % kv for kv in sorted(__import__('collections').Counter(f['state'] for f in d.get('flows', []) if f['remote'].startswith('100.')).items()))" <<<"$flows_json")
blind=$(json "sum(1 for f in d.get('flows', []) if f['remote'].startswith('100.'))" <<<"$flows_json")
completed=$(json "sum(1 for f in d.get('flows', []) if f['remote'].startswith('100.') and f['state'] not in ('SYN_SENT', 'SYN_RECV', 'CLOSED'))" <<<"$flows_json")
echo "  blind handshakes by state: $states"
[ "$blind" -gt 0 ] || fail "no blind handshake reached unat's table (the test saw nothing)"
[ "$completed" -eq 0 ] || fail "$completed of $blind blind handshakes completed (states: $states)"
half_open=$(stat_field half_open_inbound)
[ "$half_open" -le 2048 ] || fail "$half_open half-open flows, cap 1024 for each of the two forwards"
ok "2500 blind ACK/FIN handshakes: none of the $blind in the table completed, $half_open half-open kept, $(($(stat_field half_open_evicted) - evicted_before)) evicted, host_flow_limit 0"
