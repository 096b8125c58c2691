#!/usr/bin/env bash
# TFTP through unat: tftpd-hpa in the WAN answers from a new port (its
# transfer id) to the client's port. With the TFTP helper the RRQ/WRQ
# creates an expectation and a 1 MB get and put from the tftp-hpa client in
# the LAN come through identical. Without the helper the answer is dropped
# by address-and-port-dependent filtering and the get fails.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ftp_lib.sh"  # sha, counter
UNAT_LAB_CONFIG_EXTRA='helpers { tftp: true }' "$LAB" up

mkdir -p "$TMP/root" "$TMP/got"
chmod 777 "$TMP/root"
head -c $((1024 * 1024)) /dev/urandom >"$TMP/root/down.bin"
chmod 644 "$TMP/root/down.bin"
head -c $((1024 * 1024)) /dev/urandom >"$TMP/up.bin"
wan in.tftpd -L -c -p -s "$TMP/root" --address 203.0.113.2:69 </dev/null \
  >>"$TMP/tftpd.log" 2>&1 &
tftpd=$!
wait_udp unat-wan 69

lan timeout 30 tftp -m binary 203.0.113.2 -c get down.bin "$TMP/got/down.bin" ||
  fail "tftp get failed"
[ "$(sha "$TMP/got/down.bin")" = "$(sha "$TMP/root/down.bin")" ] ||
  fail "get: sha256 differs"
ok "tftp get 1 MB: identical"
lan timeout 30 tftp -m binary 203.0.113.2 -c put "$TMP/up.bin" up.bin ||
  fail "tftp put failed"
[ "$(sha "$TMP/root/up.bin")" = "$(sha "$TMP/up.bin")" ] ||
  fail "put: sha256 differs"
ok "tftp put 1 MB: identical"
[ "$(counter tftp/requests)" -ge 2 ] || fail "tftp/requests: $(counter tftp/requests)"
ok "tftp/requests $(counter tftp/requests)"

# The same without the helper.
kill "$tftpd" 2>/dev/null || true
"$LAB" down
"$LAB" up
wan in.tftpd -L -c -p -s "$TMP/root" --address 203.0.113.2:69 </dev/null \
  >>"$TMP/tftpd.log" 2>&1 &
tftpd=$!
wait_udp unat-wan 69
rm -f "$TMP/got/down.bin"
if lan timeout 6 tftp -m binary 203.0.113.2 -c get down.bin "$TMP/got/down.bin"; then
  fail "tftp get worked without the helper"
fi
ok "without the helper the server's answer from its new port is dropped"
kill "$tftpd" 2>/dev/null || true
