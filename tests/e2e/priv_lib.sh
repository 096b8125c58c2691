# Shared by test_unprivileged and test_drop_privileges: sourced after
# lib.sh, never run. Makes a system user for the test (removed at exit, also
# on failure, after lib.sh's cleanup has taken the lab down) and checks what
# an unprivileged unatd must still do.

need natpmpc useradd setpriv

# A fresh user per run (the lab lock makes runs one at a time).
PRIV_USER="unat-t$$"

_priv_remove_user() {
  id -u "$PRIV_USER" >/dev/null 2>&1 || return 0
  userdel "$PRIV_USER" 2>/dev/null || userdel -f "$PRIV_USER" 2>/dev/null || true
  if getent group "$PRIV_USER" >/dev/null; then
    groupdel "$PRIV_USER" 2>/dev/null || true
  fi
}

# lib.sh's _cleanup takes the lab down and exits; run it in a subshell with
# the test's status, then remove the user (no process of it is left then).
_priv_exit() {
  local rc=$?
  set +e
  trap - EXIT
  (exit "$rc")
  (_cleanup)
  _priv_remove_user
  exit "$rc"
}
trap _priv_exit EXIT

useradd --system --no-create-home --home-dir /nonexistent \
  --shell /usr/sbin/nologin --user-group "$PRIV_USER" ||
  fail "useradd $PRIV_USER"
PRIV_UID="$(id -u "$PRIV_USER")"
chmod 0755 "$TMP" # configs in it are read by the user

# check_unprivileged: unatd runs as the test user with no capabilities.
check_unprivileged() {
  local pid st
  pid="$("$LAB" pid)" || fail "unatd does not run"
  st="$(cat "/proc/$pid/status")"
  grep -Eq "^Uid:\s+$PRIV_UID\s+$PRIV_UID\s+$PRIV_UID\s+$PRIV_UID$" <<<"$st" ||
    fail "unatd's uids: $(grep ^Uid: <<<"$st") (want $PRIV_UID)"
  local set
  for set in CapEff CapPrm CapBnd CapInh CapAmb; do
    grep -Eq "^$set:\s+0000000000000000$" <<<"$st" ||
      fail "unatd's $(grep "^$set:" <<<"$st") is not empty"
  done
  grep -Eq '^NoNewPrivs:\s+1$' <<<"$st" || fail "no_new_privs is not set"
  ok "unatd (pid $pid) runs as uid $PRIV_UID ($PRIV_USER); CapEff, CapPrm, CapBnd, CapInh, CapAmb all 0; NoNewPrivs 1"
}

# check_traffic: ping, a TCP download and a NAT-PMP mapping through unatd.
check_traffic() {
  lan ping -c 2 -W 2 203.0.113.2 >/dev/null || fail "ping lan -> wan"
  lan2 ping -c 2 -W 2 203.0.113.2 >/dev/null || fail "ping lan2 -> wan"
  ok "ping from lan and lan2 to 203.0.113.2"

  mkdir -p "$TMP/www" "$TMP/lanwww"
  head -c 5000000 /dev/urandom >"$TMP/www/blob"
  http_server unat-wan "$TMP/www" 203.0.113.2 8000
  lan curl -sS -m 20 -o "$TMP/got" http://203.0.113.2:8000/blob ||
    fail "curl download"
  [ "$(sha256sum <"$TMP/got")" = "$(sha256sum <"$TMP/www/blob")" ] ||
    fail "downloaded file differs"
  ok "curl downloads 5 MB from unat-wan, identical"

  echo "served by lan" >"$TMP/lanwww/who.txt"
  http_server unat-lan "$TMP/lanwww" 10.77.0.2 80
  local out
  out=$(lan natpmpc -g 10.77.0.1 -a 8080 80 tcp 60 2>&1) || fail "natpmpc: $out"
  grep -q '^Mapped public port 8080 protocol TCP to local port 80' <<<"$out" ||
    fail "natpmpc mapping: $out"
  [ "$(wan curl -sS -m 5 http://203.0.113.1:8080/who.txt)" = "served by lan" ] ||
    fail "the NAT-PMP mapping does not reach lan"
  ok "natpmpc -a 8080 80 tcp 60: WAN -> 203.0.113.1:8080 -> lan:80"
}

# check_reload_and_state: after the drop, SIGHUP still applies a forward
# from the config, and a runtime forward is saved and survives a restart.
check_reload_and_state() {
  local conf
  conf="$("$LAB" config-path)"
  echo 'forward { proto: TCP external_port: 9090 namespace: "lan" inside_address: "10.77.0.2" inside_port: 80 }' >>"$conf"
  "$LAB" hup
  local i
  for ((i = 0; i < 50; i++)); do
    ctl forwards | grep -q '\*:9090 .*config' && break
    sleep 0.1
  done
  ctl forwards | grep -q '\*:9090 .*config' ||
    fail "SIGHUP did not add the config's forward: $(ctl forwards)"
  [ "$(wan curl -sS -m 5 http://203.0.113.1:9090/who.txt)" = "served by lan" ] ||
    fail "the reloaded forward does not reach lan"
  ok "SIGHUP reload adds the config's forward tcp 9090 (it works)"

  # A new tenant needs a device unatd can no longer open: the reload is
  # refused whole, saying why, and the running config stays.
  cp "$conf" "$TMP/priv_good.conf"
  echo 'inside { name: "lan9" device: "unat9" address: "10.79.0.1/24" }' >>"$conf"
  echo 'forward { proto: TCP external_port: 9292 namespace: "lan" inside_address: "10.77.0.2" inside_port: 80 }' >>"$conf"
  local out rc=0
  out=$(ctl reload 2>&1) || rc=$?
  [ "$rc" = 1 ] && grep -q "inside lan9: device unat9: .*needs the privileges unatd dropped" <<<"$out" ||
    fail "a tenant added after the drop: rc $rc: $out"
  ctl forwards | grep -q ':9292 ' && fail "the refused reload's forward was applied"
  cp "$TMP/priv_good.conf" "$conf"
  ok "a tenant added after the drop is refused whole: $out"

  ctl forward add tcp 9191 lan 10.77.0.2 80 >/dev/null || fail "forward add"
  "$LAB" restart || fail "restart"
  ctl forwards | grep -q '\*:9191 .*runtime' ||
    fail "the runtime forward did not survive the restart: $(ctl forwards)"
  [ "$(wan curl -sS -m 5 http://203.0.113.1:9191/who.txt)" = "served by lan" ] ||
    fail "the restored forward does not reach lan"
  grep -q 'state: saving .* failed' <("$LAB" log) && fail "a state save failed"
  ok "forward tcp 9191 saved by the unprivileged unatd, restored after lab.sh restart"
}
