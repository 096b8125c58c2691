#!/usr/bin/env bash
# PPTP through unat with real programs: pptpd (Debian) in unat-wan and pptp
# (pptp-linux) in unat-lan and unat-lan2, two tenants with the same inside
# address 10.77.0.2, at the same time. Each control connection reaches the
# call-established state through unat's PPTP helper (a GRE flow opens only
# on a successful Outgoing-Call-Reply), and the Call IDs the server sees are
# distinct. The lab has no /dev/ppp, so pppd cannot run: pptpd's "ppp" is a
# stand-in that holds the call's pty, and pptp runs --nolaunchpppd on a
# pipe. The PPP data is crafted (pptp_gre.py): GRE v1 from each client with
# its call's Call IDs and from the server back, each checked to reach the
# right host with the right key both ways. When the control connections
# end, so do the calls' GRE flows.
source "$(dirname "$0")/lib.sh"
need pptpd pptp
UNAT_LAB_CONFIG_EXTRA='helpers { pptp: true }' "$LAB" up
# On failure, what the programs said.
pptp_logs() {
  local f
  for f in "$TMP"/pptp-*.log "$TMP/bg.log"; do
    [ -s "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }
  done
  return 0
}

# pptpd with a stand-in for pppd (called with pppd's arguments, the call's
# pty on stdin/stdout): it keeps the call up and says nothing.
cat >"$TMP/fakeppp" <<'SH'
#!/bin/sh
exec sleep 300
SH
chmod +x "$TMP/fakeppp"
: >"$TMP/pptpd-options"
cat >"$TMP/pptpd.conf" <<CONF
ppp $TMP/fakeppp
option $TMP/pptpd-options
localip 192.168.240.1
remoteip 192.168.240.10-20
CONF
bg unat-wan pptpd --fg --conf "$TMP/pptpd.conf" --listen 203.0.113.2 \
  --pidfile "$TMP/pptpd.pid" --noipparam --stimeout 60
wait_tcp unat-wan 203.0.113.2 1723

# One pptp per tenant, its PPP side on a pipe kept open by this shell.
for t in lan lan2; do
  mkfifo "$TMP/ppp-in-$t"
  exec {fd}<>"$TMP/ppp-in-$t"
  eval "hold_$t=$fd"
  # pptp's call manager listens on /run/pptp/<server>: a /run of its own
  # (a private mount namespace) keeps the two clients apart.
  ip netns exec "unat-$t" unshare --mount --propagation private sh -c \
    'mount -t tmpfs tmpfs /run && mkdir /run/pptp && exec "$@"' pptp \
    pptp 203.0.113.2 --nolaunchpppd --nohostroute --nobuffer \
    --loglevel 2 <"$TMP/ppp-in-$t" >"$TMP/ppp-out-$t" 2>>"$TMP/pptp-$t.log" 9>&- &
done

# Both calls up: two GRE flows, one per tenant, opened by the helper.
gre_flows() { ctl --json flows --proto gre | json "len(d.get('flows', []))"; }
for ((i = 0; i < 100; i++)); do
  [ "$(gre_flows)" -ge 2 ] && break
  sleep 0.1
done
[ "$(gre_flows)" -eq 2 ] || fail "$(gre_flows) GRE flows, want 2 (calls not established): $(ctl flows) $(pptp_logs)"
# ns inside-CallID external-CallID server-CallID, per call.
ctl --json flows --proto gre | json "'\n'.join('%s %s %s %s' % (f['ns'], f['inside'].split(':')[1], f['external'].split(':')[1], f['remote'].split(':')[1]) for f in d['flows'])" >"$TMP/calls"
cat "$TMP/calls"
read -r ns_a cid_a ext_a srv_a < <(grep '^lan ' "$TMP/calls")
read -r ns_b cid_b ext_b srv_b < <(grep '^lan2 ' "$TMP/calls")
[ -n "${ext_a:-}" ] && [ -n "${ext_b:-}" ] || fail "a tenant has no call: $(cat "$TMP/calls")"
[ "$ext_a" != "$ext_b" ] || fail "both calls show the server Call ID $ext_a"
[ "$(stat_field related_flows)" -eq 2 ] || fail "related_flows $(stat_field related_flows)"
opened=$(ctl --json stats | json "sum(int(c['value']) for c in d['stats'].get('helpers', []) if c['name'] == 'pptp/calls_opened')")
[ "$opened" -eq 2 ] || fail "pptp/calls_opened $opened: $(ctl stats | grep pptp/)"
ok "two tenants (10.77.0.2 each, client Call IDs $cid_a and $cid_b) have calls up: the server sees Call IDs $ext_a and $ext_b"

# The data: each client's GRE reaches the server with its server Call ID
# and unat's address; the server's GRE for each call reaches its tenant with
# that client's own Call ID.
wan "$PY" "$E2E_DIR/pptp_gre.py" sniff unatw0 4 >"$TMP/wan.seen" &
sniff_wan=$!
lan "$PY" "$E2E_DIR/pptp_gre.py" sniff unat0 4 >"$TMP/lan.seen" &
sniff_lan=$!
lan2 "$PY" "$E2E_DIR/pptp_gre.py" sniff unat0 4 >"$TMP/lan2.seen" &
sniff_lan2=$!
sleep 1.5
lan "$PY" "$E2E_DIR/pptp_gre.py" send 203.0.113.2 "$srv_a" from-lan
lan2 "$PY" "$E2E_DIR/pptp_gre.py" send 203.0.113.2 "$srv_b" from-lan2
wan "$PY" "$E2E_DIR/pptp_gre.py" send 203.0.113.1 "$ext_a" to-lan 0
wan "$PY" "$E2E_DIR/pptp_gre.py" send 203.0.113.1 "$ext_b" to-lan2 0
wait "$sniff_wan" "$sniff_lan" "$sniff_lan2" || true
echo "wan saw:"; cat "$TMP/wan.seen"
echo "lan saw:"; cat "$TMP/lan.seen"
echo "lan2 saw:"; cat "$TMP/lan2.seen"
grep -qx "203.0.113.1 203.0.113.2 $srv_a from-lan" "$TMP/wan.seen" ||
  fail "lan's GRE did not reach the server as 203.0.113.1 with key $srv_a"
grep -qx "203.0.113.1 203.0.113.2 $srv_b from-lan2" "$TMP/wan.seen" ||
  fail "lan2's GRE did not reach the server as 203.0.113.1 with key $srv_b"
grep -qx "203.0.113.2 10.77.0.2 $cid_a to-lan" "$TMP/lan.seen" ||
  fail "the server's GRE for lan's call did not reach lan with key $cid_a"
grep -qx "203.0.113.2 10.77.0.2 $cid_b to-lan2" "$TMP/lan2.seen" ||
  fail "the server's GRE for lan2's call did not reach lan2 with key $cid_b"
! grep -q "to-lan2" "$TMP/lan.seen" || fail "lan got lan2's GRE"
! grep -q "to-lan$" "$TMP/lan2.seen" || fail "lan2 got lan's GRE"
ok "GRE both ways: each client's reached the server with its server Call ID, the server's reached the right tenant with its client Call ID"
# The control connections end (no PPP runs over these calls, so the
# programs give up on them): each call's GRE flow goes with its control
# connection, nothing is left behind.
for ((i = 0; i < 300; i++)); do
  [ "$(gre_flows)" -eq 0 ] && break
  sleep 0.1
done
[ "$(gre_flows)" -eq 0 ] || fail "$(gre_flows) GRE flows left: $(ctl flows) $(pptp_logs)"
[ "$(ctl --json flows --proto tcp | json "sum(1 for f in d.get('flows', []) if f['state'] == 'ESTABLISHED')")" -eq 0 ] ||
  fail "GRE flows gone while a control connection is up: $(ctl flows)"
[ "$(stat_field related_flows)" -eq 0 ] || fail "related_flows $(stat_field related_flows) after the calls ended"
closed=$(ctl --json stats | json "sum(int(c['value']) for c in d['stats'].get('helpers', []) if c['name'] == 'pptp/calls_closed')")
[ "$closed" -eq 2 ] || fail "pptp/calls_closed $closed"
ok "both control connections ended: their calls' GRE flows closed with them (pptp/calls_closed 2)"
