#!/usr/bin/env bash
# Without the FTP helper, active mode through unat fails the way it fails
# through any NAT without one: the PORT names the client's inside address,
# and vsftpd (port_promiscuous=NO) answers "500 Illegal PORT command".
# Passive mode (an outbound data connection) still works.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ftp_lib.sh"
"$LAB" up

mkdir -p "$TMP/pub"
echo "hello over ftp" >"$TMP/pub/small.txt"
vsftpd_start unat-wan "$TMP/pub" 203.0.113.2

set +e
lan curl -sS -v -m 15 --ftp-port - --disable-eprt \
  ftp://203.0.113.2/small.txt >"$TMP/active.out" 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "active mode worked without the helper"
grep -q "< 500 Illegal PORT command" "$TMP/active.out" ||
  fail "curl did not get vsftpd's refusal: $(tail -5 "$TMP/active.out")"
grep -q '"PORT 10,77,0,2,' "$TMP/vsftpd-unat-wan.log" ||
  fail "vsftpd did not see the untranslated PORT"
ok "active mode without helper: 500 Illegal PORT command (curl rc $rc)"

[ "$(lan curl -sS -m 15 ftp://203.0.113.2/small.txt)" = "hello over ftp" ] ||
  fail "passive mode failed"
ok "passive mode works without helper"
ctl flows --proto tcp | grep -E "203\.0\.113\.2:21 " | grep -q " ftp " &&
  fail "a helper is attached although none is configured"
ok "no helper on port 21 flows"
vsftpd_stop
