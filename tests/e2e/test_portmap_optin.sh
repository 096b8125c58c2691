#!/usr/bin/env bash
# Issue 13, defect 7: NAT-PMP and PCP are opt-in, and every lease leaves a
# trace. With the default config nothing answers on UDP 5351 (natpmpc and a
# PCP ANNOUNCE get no mapping, no lease is made); with helpers { natpmp: true
# } each lease granted, renewed, deleted or expired is one log line:
# protocol, event, namespace, client, proto, external -> inside, lifetime.
source "$(dirname "$0")/lib.sh"
need natpmpc
"$LAB" up

out=$(timeout 20 ip netns exec unat-lan natpmpc -g 10.77.0.1 -a 8080 80 tcp 3600 2>&1) &&
  fail "natpmpc got an answer from the default config: $out"
grep -q 'Mapped public port' <<<"$out" && fail "natpmpc mapped a port by default: $out"
# Nothing listens on 10.77.0.1:5351: the engine answers ICMP port
# unreachable, which natpmpc reports as "does not support nat-pmp".
grep -q 'the gateway does not support nat-pmp' <<<"$out" || fail "natpmpc: $out"
ok "default config: natpmpc -a refused (port unreachable: \"the gateway does not support nat-pmp\")"
out=$(lan "$PY" "$E2E_DIR/pcp_client.py" 10.77.0.1 announce 2>&1) && fail "PCP answered by default: $out"
grep -q 'Connection refused' <<<"$out" || fail "PCP ANNOUNCE by default: $out"
ok "default config: PCP ANNOUNCE refused (port unreachable)"
ctl forwards | grep -q "natpmp\|pcp" && fail "a lease exists: $(ctl forwards)"
grep -q 'portmap: ' <("$LAB" log) && fail "lease lines without any lease: $("$LAB" log)"
ok "no lease, no lease line in the log"
"$LAB" down

UNAT_LAB_CONFIG_EXTRA='helpers { natpmp: true }
portmap { min_lifetime_s: 2 }' "$LAB" up
log_has() {
  local i
  for ((i = 0; i < 100; i++)); do
    grep -Eq "$1" <("$LAB" log) && return 0
    sleep 0.1
  done
  fail "log has no line matching /$1/: $("$LAB" log | tail -n 5)"
}
P='unatd: portmap: natpmp'
L='ns lan client 10\.77\.0\.2 tcp 203\.0\.113\.1'

out=$(lan natpmpc -g 10.77.0.1 -a 8080 80 tcp 3600 2>&1) || fail "natpmpc -a: $out"
log_has "$P granted $L:8080 -> 10\.77\.0\.2:80 lifetime 3600s$"
ok "granted: $("$LAB" log | grep -m1 "$P granted" | sed 's/^.*unatd: //')"
out=$(lan natpmpc -g 10.77.0.1 -a 8080 80 tcp 7200 2>&1) || fail "renew: $out"
log_has "$P renewed $L:8080 -> 10\.77\.0\.2:80 lifetime 7200s$"
ok "renewed: $("$LAB" log | grep -m1 "$P renewed" | sed 's/^.*unatd: //')"
out=$(lan natpmpc -g 10.77.0.1 -a 8080 80 tcp 0 2>&1) || fail "delete: $out"
log_has "$P deleted $L:8080 -> 10\.77\.0\.2:80 lifetime [0-9]+s$"
ok "deleted: $("$LAB" log | grep -m1 "$P deleted" | sed 's/^.*unatd: //')"
out=$(lan natpmpc -g 10.77.0.1 -a 8081 81 tcp 2 2>&1) || fail "natpmpc -a 8081 for 2 s: $out"
log_has "$P granted $L:8081 -> 10\.77\.0\.2:81 lifetime 2s$"
log_has "$P expired $L:8081 -> 10\.77\.0\.2:81 lifetime 0s$"
ok "expired: $("$LAB" log | grep -m1 "$P expired" | sed 's/^.*unatd: //')"
ctl forwards | grep -q ":8081 " && fail "expired lease still listed: $(ctl forwards)"
ok "the expired lease is gone from unatctl forwards"
