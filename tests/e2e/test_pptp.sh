#!/usr/bin/env bash
# PPTP through unat with real programs: pptpd (Debian) in unat-wan and pptp
# (pptp-linux) in unat-lan and unat-lan2, two tenants with the same inside
# address 10.77.0.2, at the same time.
#
# The lab has no /dev/ppp, so pppd cannot run: pptpd's "ppp" is a stand-in
# that holds the call's pty, and pptp runs --nolaunchpppd on a pty of
# pty_run.py (as under pppd's "pty" option), which records what pptp
# delivers there. The PPP data is crafted (pptp_gre.py): GRE v1 with each
# call's Call IDs.
#
# 1. Each pptp reaches the call-established state through unat's PPTP helper
#    (a GRE flow opens only on a successful Outgoing-Call-Reply), and the
#    Call IDs the server sees are distinct.
# 2. GRE from each client reaches the server from unat's address with the
#    server's Call ID; GRE from the server for each call reaches the right
#    tenant with that client's own Call ID, and the real pptp there
#    decapsulates it onto its pty.
# 3. lan's pptp stops: it clears its call (Call-Clear-Request, the server's
#    Call-Disconnect-Notify) and its GRE flow goes; lan2's stays.
# 4. pptp picks random Call IDs, so two clients with the same one come from
#    pptp_client.py (a minimal PNS) against the same real pptpd: both use
#    Call ID 4660 at once, both calls come up with distinct Call IDs on the
#    wire, and GRE both ways reaches each with key 4660.
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

# tenant_run T CMD...: CMD in unat-T with a /run of its own (pptp's call
# manager listens on /run/pptp/<server>: a private mount namespace keeps
# the two tenants' apart).
tenant_run() {
  local t=$1
  shift
  ip netns exec "unat-$t" unshare --mount --propagation private sh -c \
    'mount -t tmpfs tmpfs /run && mkdir /run/pptp && exec "$@"' run "$@"
}
for t in lan lan2; do
  tenant_run "$t" "$PY" "$E2E_DIR/pty_run.py" "$TMP/ppp-out-$t" \
    pptp 203.0.113.2 --nolaunchpppd --nohostroute --nobuffer \
    </dev/null 2>>"$TMP/pptp-$t.log" 9>&- &
done

gre_flows() { ctl --json flows --proto gre | json "len(d.get('flows', []))"; }
wait_gre_flows() {
  local i
  for ((i = 0; i < 100; i++)); do
    [ "$(gre_flows)" -eq "$1" ] && return 0
    sleep 0.1
  done
  return 1
}
# calls: "ns inside-CallID external-CallID server-CallID" per GRE flow.
calls() {
  ctl --json flows --proto gre | json "'\n'.join('%s %s %s %s' % (f['ns'], f['inside'].split(':')[1], f['external'].split(':')[1], f['remote'].split(':')[1]) for f in d.get('flows', []))"
}
helper_counter() {
  ctl --json stats | json "sum(int(c['value']) for c in d['stats'].get('helpers', []) if c['name'] == '$1')"
}

# 1. Both calls up.
wait_gre_flows 2 || fail "$(gre_flows) GRE flows, want 2 (calls not established): $(ctl flows) $(pptp_logs)"
calls >"$TMP/calls"
cat "$TMP/calls"
read -r _ cid_a ext_a srv_a < <(grep '^lan ' "$TMP/calls")
read -r _ cid_b ext_b srv_b < <(grep '^lan2 ' "$TMP/calls")
[ -n "${ext_a:-}" ] && [ -n "${ext_b:-}" ] || fail "a tenant has no call: $(cat "$TMP/calls")"
[ "$ext_a" != "$ext_b" ] || fail "both calls show the server Call ID $ext_a"
[ "$(stat_field related_flows)" -eq 2 ] || fail "related_flows $(stat_field related_flows)"
[ "$(helper_counter pptp/calls_opened)" -eq 2 ] || fail "pptp/calls_opened: $(ctl stats | grep pptp/)"
ok "pptp in two tenants (10.77.0.2 each, Call IDs $cid_a and $cid_b): both calls up, the server sees Call IDs $ext_a and $ext_b"

# gre_exchange TAG  A_SERVER_CID A_EXT A_CID  B_SERVER_CID B_EXT B_CID:
# crafted GRE from each tenant to the server and back, checked where it
# arrives (sniffers in all three namespaces).
gre_exchange() {
  local tag=$1 sa=$2 xa=$3 ca=$4 sb=$5 xb=$6 cb=$7 p
  wan "$PY" "$E2E_DIR/pptp_gre.py" sniff unatw0 8 >"$TMP/wan.seen" &
  local sniffers=($!)
  lan "$PY" "$E2E_DIR/pptp_gre.py" sniff unat0 8 >"$TMP/lan.seen" &
  sniffers+=($!)
  lan2 "$PY" "$E2E_DIR/pptp_gre.py" sniff unat0 8 >"$TMP/lan2.seen" &
  sniffers+=($!)
  sleep 1.2
  lan "$PY" "$E2E_DIR/pptp_gre.py" send 203.0.113.2 "$sa" "$tag-from-lan"
  lan2 "$PY" "$E2E_DIR/pptp_gre.py" send 203.0.113.2 "$sb" "$tag-from-lan2"
  wan "$PY" "$E2E_DIR/pptp_gre.py" send 203.0.113.1 "$xa" "$tag-to-lan" 0
  wan "$PY" "$E2E_DIR/pptp_gre.py" send 203.0.113.1 "$xb" "$tag-to-lan2" 0
  for p in "${sniffers[@]}"; do wait "$p" || true; done
  grep -qx "203.0.113.1 203.0.113.2 $sa $tag-from-lan" "$TMP/wan.seen" ||
    fail "$tag: lan's GRE did not reach the server as 203.0.113.1 with key $sa: $(cat "$TMP/wan.seen")"
  grep -qx "203.0.113.1 203.0.113.2 $sb $tag-from-lan2" "$TMP/wan.seen" ||
    fail "$tag: lan2's GRE did not reach the server as 203.0.113.1 with key $sb: $(cat "$TMP/wan.seen")"
  grep -qx "203.0.113.2 10.77.0.2 $ca $tag-to-lan" "$TMP/lan.seen" ||
    fail "$tag: the server's GRE for lan's call did not reach lan with key $ca: $(cat "$TMP/lan.seen")"
  grep -qx "203.0.113.2 10.77.0.2 $cb $tag-to-lan2" "$TMP/lan2.seen" ||
    fail "$tag: the server's GRE for lan2's call did not reach lan2 with key $cb: $(cat "$TMP/lan2.seen")"
  ! grep -q -- "-to-lan2$" "$TMP/lan.seen" || fail "$tag: lan got lan2's GRE"
  ! grep -q -- "-to-lan$" "$TMP/lan2.seen" || fail "$tag: lan2 got lan's GRE"
}

# 2. GRE both ways, and the real clients take the server's as their data.
gre_exchange pptp "$srv_a" "$ext_a" "$cid_a" "$srv_b" "$ext_b" "$cid_b"
for t in lan lan2; do
  for ((i = 0; i < 30; i++)); do
    grep -qa "unat:pptp-to-$t" "$TMP/ppp-out-$t" 2>/dev/null && break
    sleep 0.1
  done
  grep -qa "unat:pptp-to-$t" "$TMP/ppp-out-$t" ||
    fail "pptp in $t did not deliver its call's GRE onto its pty $(pptp_logs)"
  ! grep -qa "unat:pptp-to-lan2" "$TMP/ppp-out-lan" || fail "pptp in lan got lan2's data"
done
ok "GRE both ways: each client's reached the server with the server's Call ID; the server's reached the right tenant with its own Call ID, and each pptp delivered its own call's frame"

# 3. lan's pptp stops (its processes by pid: pptpgw, pptpcm): it clears its
# call, and only its GRE flow goes.
for pid in $(ip netns pids unat-lan); do
  case "$(cat "/proc/$pid/comm" 2>/dev/null)" in pptpgw | pptpcm) kill "$pid" 2>/dev/null || true ;; esac
done
wait_gre_flows 1 || fail "$(gre_flows) GRE flows after lan's pptp stopped, want 1: $(ctl flows) $(pptp_logs)"
[ "$(calls | cut -d' ' -f1)" = lan2 ] || fail "the call left is not lan2's: $(calls)"
[ "$(helper_counter pptp/calls_closed)" -eq 1 ] || fail "pptp/calls_closed $(helper_counter pptp/calls_closed)"
ok "lan's pptp stopped: its call was cleared and its GRE flow closed; lan2's call stays"
for pid in $(ip netns pids unat-lan2); do
  case "$(cat "/proc/$pid/comm" 2>/dev/null)" in pptpgw | pptpcm) kill "$pid" 2>/dev/null || true ;; esac
done
wait_gre_flows 0 || fail "lan2's call outlived its pptp: $(ctl flows)"

# 4. Two clients with the same Call ID at once.
for t in lan lan2; do
  ip netns exec "unat-$t" "$PY" "$E2E_DIR/pptp_client.py" 203.0.113.2 4660 \
    </dev/null >"$TMP/client-$t.out" 2>>"$TMP/pptp-$t.log" 9>&- &
  eval "client_$t=$!"
done
wait_gre_flows 2 || fail "$(gre_flows) GRE flows for the two Call-ID-4660 clients: $(ctl flows) $(cat "$TMP"/client-*.out) $(pptp_logs)"
calls >"$TMP/calls"
cat "$TMP/calls"
read -r _ cid_a ext_a srv_a < <(grep '^lan ' "$TMP/calls")
read -r _ cid_b ext_b srv_b < <(grep '^lan2 ' "$TMP/calls")
[ "$cid_a" = 4660 ] && [ "$cid_b" = 4660 ] || fail "inside Call IDs $cid_a, $cid_b, want 4660 both"
[ "$ext_a" != "$ext_b" ] || fail "both clients' Call ID 4660 shows as $ext_a on the wire"
grep -qx "up $srv_a" "$TMP/client-lan.out" || fail "lan's client: $(cat "$TMP/client-lan.out")"
grep -qx "up $srv_b" "$TMP/client-lan2.out" || fail "lan2's client: $(cat "$TMP/client-lan2.out")"
gre_exchange same "$srv_a" "$ext_a" 4660 "$srv_b" "$ext_b" 4660
ok "two tenants' clients with Call ID 4660 at once: the server sees $ext_a and $ext_b, and GRE both ways reaches each with key 4660"
# They clear their calls (Call-Clear-Request; pptpd, one call per control
# connection, then ends the connection).
kill "$client_lan" "$client_lan2"
wait "$client_lan" && wait "$client_lan2" || fail "a client did not clear its call: $(cat "$TMP"/client-*.out) $(pptp_logs)"
wait_gre_flows 0 || fail "GRE flows left after both calls were cleared: $(ctl flows)"
[ "$(stat_field related_flows)" -eq 0 ] || fail "related_flows $(stat_field related_flows) after every call ended"
grep -q "^cleared" "$TMP/client-lan.out" && grep -q "^cleared" "$TMP/client-lan2.out" ||
  fail "clients: $(cat "$TMP"/client-*.out)"
ok "both calls cleared by their clients: no GRE flow or reserved Call ID left"
