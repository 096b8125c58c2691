#!/usr/bin/env bash
# A packet that arrives with TTL 1 is answered with ICMP time exceeded from
# unat's inside address 10.77.0.1, so ping and tracepath see the hop.
source "$(dirname "$0")/lib.sh"
"$LAB" up

set +e
out=$(lan ping -n -c 1 -t 1 -W 2 203.0.113.2 2>&1)
set -e
echo "$out" | grep -q "From 10.77.0.1 .*Time to live exceeded" ||
  fail "ping -t 1: $out"
ok "ping -t 1: time exceeded from 10.77.0.1"

out=$(lan tracepath -n -m 4 203.0.113.2 2>&1) || true
echo "$out" | grep -Eq "^ *1: +10\.77\.0\.1 " || fail "tracepath: $out"
echo "$out" | grep -Eq "203\.0\.113\.2 .*reached" || fail "tracepath: $out"
ok "tracepath shows 10.77.0.1 as hop 1 and reaches 203.0.113.2"

ctl --json stats >"$TMP/stats.json"
sent=$(json 'int(d["stats"]["icmp_errors_sent"])' <"$TMP/stats.json")
[ "$sent" -ge 1 ] || fail "icmp_errors_sent is $sent"
ttl=$(json '[int(c["value"]) for c in d["stats"]["drops"] if c["name"] == "ttl_expired"][0]' <"$TMP/stats.json")
[ "$ttl" -ge 1 ] || fail "ttl_expired drop counter is $ttl"
ok "counters: icmp_errors_sent $sent, ttl_expired $ttl"
