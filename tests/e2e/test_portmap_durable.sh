#!/usr/bin/env bash
# Issue 13, defect 4: a lease natpmpc was told about survives a crash. unatd
# writes the state file (tmp, fsync, rename, fsync of the directory) before
# the answer leaves, so SIGKILL right after natpmpc returns, then a start,
# finds every granted lease on its port, reachable, and the epoch goes on
# (RFC 6886 3.6: no lease was lost). A delete is durable the same way.
# Before, the state was written at most once a second after the change: a
# kill -9 0.3 s after the answer lost the lease while the epoch kept counting.
source "$(dirname "$0")/lib.sh"
need natpmpc
UNAT_LAB_CONFIG_EXTRA='helpers { natpmp: true }' "$LAB" up

epoch_of() { sed -n 's/^epoch = \([0-9]*\)$/\1/p' <<<"$1" | tail -n 1; }
mkdir -p "$TMP/www"
echo "served by lan" >"$TMP/www/who.txt"
http_server unat-lan "$TMP/www" 10.77.0.2 85

# Five grants, the last one answered a moment before the crash.
for i in 1 2 3 4 5; do
  out=$(lan natpmpc -g 10.77.0.1 -a "808$i" "8$i" tcp 3600 2>&1) || fail "natpmpc -a 808$i: $out"
  grep -q "^Mapped public port 808$i protocol TCP to local port 8$i " <<<"$out" ||
    fail "natpmpc -a 808$i: $out"
done
e1=$(epoch_of "$out")
pid=$("$LAB" pid)
kill -KILL "$pid"
ok "natpmpc -a 8081..8085 answered (epoch $e1); SIGKILL to unatd $pid right after the last answer"
while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
"$LAB" start
for i in 1 2 3 4 5; do
  ctl forwards | grep -Eq "^tcp +203\.0\.113\.1:808$i +lan +10\.77\.0\.2:8$i +natpmp +lease " ||
    fail "lease 808$i lost in the crash: $(ctl forwards)"
done
[ "$(wan curl -sS -m 5 http://203.0.113.1:8085/who.txt)" = "served by lan" ] ||
  fail "8085 does not reach lan after the crash"
grep -q 'portmap: natpmp restored ns lan client 10\.77\.0\.2 tcp 203\.0\.113\.1:8085 -> 10\.77\.0\.2:85 ' <("$LAB" log) ||
  fail "no restored line for 8085 in the log"
out=$(lan natpmpc -g 10.77.0.1 2>&1) || fail "natpmpc -g after the crash: $out"
e2=$(epoch_of "$out")
[ -n "$e1" ] && [ -n "$e2" ] && [ "$e2" -ge "$e1" ] || fail "epoch went back with the leases kept: $e1 -> $e2"
ok "after start: all 5 leases on their ports, 8085 reaches lan, epoch $e1 -> $e2 (no loss, none to signal)"

# A renewal and a delete, each followed at once by SIGKILL.
out=$(lan natpmpc -g 10.77.0.1 -a 0 84 tcp 7200 2>&1) || fail "renew 8084: $out"
grep -q 'liftime 7200$' <<<"$out" || fail "renew 8084: $out"
out=$(lan natpmpc -g 10.77.0.1 -a 8085 85 tcp 0 2>&1) || fail "delete 8085: $out"
pid=$("$LAB" pid)
kill -KILL "$pid"
while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
"$LAB" start
ctl forwards | grep -q ":8085 " && fail "deleted lease 8085 came back after the crash: $(ctl forwards)"
left=$(ctl --json forwards | "$PY" -c 'import json,sys; print(next(int(f["expires_in_ms"]) for f in json.load(sys.stdin)["forwards"] if f["external_port"] == 8084) // 1000)')
[ "$left" -gt 3600 ] || fail "renewal of 8084 to 7200 s lost in the crash: ${left} s left"
wan curl -s -m 2 -o /dev/null http://203.0.113.1:8085/who.txt && fail "8085 reachable after delete + crash"
ok "delete of 8085 and renewal of 8084 (${left} s left) survive SIGKILL right after their answers"
