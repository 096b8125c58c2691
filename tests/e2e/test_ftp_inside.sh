#!/usr/bin/env bash
# An FTP server inside: vsftpd in the LAN behind a static forward of port
# 21, fetched from the WAN in passive mode. The helper rewrites vsftpd's 227
# (PASV) and 229 (EPSV) replies to unat's external address and a port it
# maps, and admits the client's data connection to it. Active mode from the
# WAN (vsftpd connects out) needs nothing and works too.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ftp_lib.sh"
UNAT_LAB_CONFIG_EXTRA='helpers { ftp: true }
forward { proto: TCP external_port: 21 namespace: "lan" inside_address: "10.77.0.2" inside_port: 21 }' \
  "$LAB" up

mkdir -p "$TMP/pub" "$TMP/got"
head -c $((5 * 1024 * 1024)) /dev/urandom >"$TMP/pub/big.bin"
want=$(sha "$TMP/pub/big.bin")
vsftpd_start unat-lan "$TMP/pub" 10.77.0.2
url=ftp://203.0.113.1/big.bin

get() {  # NAME CMD...
  local name=$1
  shift
  rm -f "$TMP/got/$name"
  "$@" >"$TMP/$name.log" 2>&1 || fail "$name: $(cat "$TMP/$name.log")"
  [ "$(sha "$TMP/got/$name")" = "$want" ] || fail "$name: sha256 differs"
  ok "$name: 5 MB from the inside server, sha256 identical"
}
get curl-pasv wan curl -sS -m 30 --disable-epsv -o "$TMP/got/curl-pasv" "$url"
[ "$(counter ftp/pasv_rewrites)" -ge 1 ] || fail "227 not rewritten"
get curl-epsv wan curl -sS -m 30 -o "$TMP/got/curl-epsv" "$url"
[ "$(counter ftp/epsv_rewrites)" -ge 1 ] || fail "229 not rewritten"
get lftp-pasv wan lftp -c "set net:max-retries 1; set net:timeout 10; \
set ftp:passive-mode on; set ftp:prefer-epsv no; \
open ftp://anonymous:x@203.0.113.1; get big.bin -o $TMP/got/lftp-pasv"
get curl-active wan curl -sS -m 30 --ftp-port - --disable-eprt \
  -o "$TMP/got/curl-active" "$url"
[ "$(counter ftp/foreign_address)" -eq 0 ] || fail "foreign address counted"

# While a PASV reply's expectation waits, flows shows it on the control
# connection (inbound, helper ftp, 1 expectation).
wan "$PY" "$E2E_DIR/ftp_cmd.py" 203.0.113.1 --hold 3 "USER anonymous" \
  "PASS x" "PASV" >"$TMP/pasv.out" 2>&1 &
py=$!
for i in $(seq 30); do grep -q "^227" "$TMP/pasv.out" && break; sleep 0.1; done
grep -q "^227 Entering Passive Mode (203,0,113,1," "$TMP/pasv.out" ||
  fail "227 not rewritten: $(cat "$TMP/pasv.out")"
ctl flows --proto tcp | grep -E "10\.77\.0\.2:21 +203\.0\.113\.1:21 .* ftp \(1 exp\)" >/dev/null ||
  fail "flows: $(ctl flows --proto tcp)"
wait "$py" || true
ok "unatctl flows: the control connection has helper ftp and 1 expectation"
vsftpd_stop
