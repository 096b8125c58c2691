#!/usr/bin/env bash
# FTP through unat with the FTP helper: vsftpd in the WAN (Debian defaults:
# port_promiscuous=NO), curl and lftp in the LAN, a 5 MB file in every
# mode: active PORT and EPRT (the helper rewrites the command and expects
# the server's data connection), passive PASV and EPSV (outbound data
# connection, nothing to rewrite). Identical sha256 at both ends. Then a
# PORT/EPRT naming another host's address: not rewritten, counted, and
# refused by vsftpd.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ftp_lib.sh"
UNAT_LAB_CONFIG_EXTRA='helpers { ftp: true }' "$LAB" up

mkdir -p "$TMP/pub" "$TMP/got"
head -c $((5 * 1024 * 1024)) /dev/urandom >"$TMP/pub/big.bin"
want=$(sha "$TMP/pub/big.bin")
vsftpd_start unat-wan "$TMP/pub" 203.0.113.2
url=ftp://203.0.113.2/big.bin

fetch_curl() {  # NAME CURL_FLAGS...
  local name=$1
  shift
  rm -f "$TMP/got/$name"
  lan curl -sS -m 30 "$@" -o "$TMP/got/$name" "$url" ||
    fail "curl $name failed"
  [ "$(sha "$TMP/got/$name")" = "$want" ] || fail "curl $name: sha256 differs"
  ok "curl $name: 5 MB, sha256 identical"
}
p0=$(counter ftp/port_rewrites)
fetch_curl active-port --ftp-port - --disable-eprt
[ "$(counter ftp/port_rewrites)" -gt "$p0" ] || fail "PORT not rewritten"
e0=$(counter ftp/eprt_rewrites)
fetch_curl active-eprt --ftp-port -
[ "$(counter ftp/eprt_rewrites)" -gt "$e0" ] || fail "EPRT not rewritten"
grep -q "EPRT |1|203.0.113.1|" "$TMP/vsftpd-unat-wan.log" ||
  fail "vsftpd never saw a rewritten EPRT: $(grep -i eprt "$TMP/vsftpd-unat-wan.log")"
fetch_curl passive-pasv --disable-epsv
fetch_curl passive-epsv
grep -q '"PORT 203,0,113,1,' "$TMP/vsftpd-unat-wan.log" ||
  fail "vsftpd never saw a rewritten PORT"

fetch_lftp() {  # NAME SETTINGS
  local name=$1
  rm -f "$TMP/got/$name"
  lan lftp -c "set net:max-retries 1; set net:timeout 10; $2; \
open ftp://anonymous:x@203.0.113.2; get big.bin -o $TMP/got/$name" \
    >"$TMP/lftp-$name.log" 2>&1 || fail "lftp $name: $(cat "$TMP/lftp-$name.log")"
  [ "$(sha "$TMP/got/$name")" = "$want" ] || fail "lftp $name: sha256 differs"
  ok "lftp $name: 5 MB, sha256 identical"
}
p1=$(counter ftp/port_rewrites)
fetch_lftp active-port "set ftp:passive-mode off"
[ "$(counter ftp/port_rewrites)" -gt "$p1" ] || fail "lftp PORT not rewritten"
fetch_lftp passive-pasv "set ftp:passive-mode on; set ftp:prefer-epsv no"
fetch_lftp passive-epsv "set ftp:passive-mode on; set ftp:prefer-epsv yes"
[ "$(counter ftp/foreign_address)" -eq 0 ] || fail "foreign address counted"

# The flow table names the helper of the control connection.
lan bash -c 'exec 3<>/dev/tcp/203.0.113.2/21; sleep 2' &
sleeper=$!
sleep 0.5
ctl flows --proto tcp | grep -E "10\.77\.0\.2:[0-9]+ .*203\.0\.113\.2:21 .* ftp \(0 exp\)" >/dev/null ||
  fail "flows does not show the ftp helper: $(ctl flows --proto tcp)"
wait "$sleeper" || true
ok "unatctl flows shows the ftp helper"

# A PORT and an EPRT naming another host (10.77.0.20, which begins with the
# client's own 10.77.0.2): left alone, counted, refused by vsftpd.
f0=$(counter ftp/foreign_address)
lan "$PY" "$E2E_DIR/ftp_cmd.py" 203.0.113.2 "USER anonymous" "PASS x" \
  "PORT 10,77,0,20,117,48" "EPRT |1|10.77.0.20|30001|" "QUIT" \
  >"$TMP/foreign.out" 2>&1 || fail "$(cat "$TMP/foreign.out")"
[ "$(grep -c "^500 Illegal \(PORT\|EPRT\) command" "$TMP/foreign.out")" -eq 2 ] ||
  fail "vsftpd did not refuse the foreign PORT/EPRT: $(cat "$TMP/foreign.out")"
grep -q '"PORT 10,77,0,20,117,48"' "$TMP/vsftpd-unat-wan.log" ||
  fail "the foreign PORT was changed on the way"
[ "$(counter ftp/foreign_address)" -eq $((f0 + 2)) ] ||
  fail "foreign_address counter: $(counter ftp/foreign_address)"
ok "PORT/EPRT naming 10.77.0.20: untouched, counted, refused by vsftpd"

ctl stats | grep -A30 "ALG HELPERS" | grep -E "ftp/(port|eprt)_rewrites" | sed 's/^/    /'
vsftpd_stop
