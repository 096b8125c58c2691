#!/usr/bin/env bash
# A bad config or flag stops unatd before it opens anything, with one line
# that names the field (or flag) and the value, and exit code 2.
source "$(dirname "$0")/lib.sh"

good='inside { name: "lan" device: "unat0" netns: "unat-lan" address: "10.77.0.1/24" }
outside { device: "unatw0" netns: "unat-wan" external_address: "203.0.113.1" }
control { socket: "'"$TMP"'/s.sock" }
state_file: ""'

# expect CODE PATTERN CONFIG_TEXT [FLAGS...]
n=0
expect() {
  local code=$1 pattern=$2 text=$3
  shift 3
  n=$((n + 1))
  printf '%s\n' "$text" >"$TMP/c$n.conf"
  set +e
  local err rc
  err=$(timeout 10 "$BIN/unatd" --config "$TMP/c$n.conf" --foreground "$@" 2>&1 >/dev/null)
  rc=$?
  set -e
  [ "$rc" -eq "$code" ] || fail "case $n: rc $rc, want $code: $err"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "case $n: not one line: $err"
  printf '%s\n' "$err" | grep -Eq -- "$pattern" || fail "case $n: message \"$err\" does not match /$pattern/"
  [ ! -e "$TMP/s.sock" ] || fail "case $n: control socket left behind"
  ok "$err"
}

expect 2 '^unatd: config: forward\[0\]\.external_port: 70000 is out of range 1\.\.65535$' \
  "$good
forward { proto: TCP external_port: 70000 namespace: \"lan\" inside_address: \"10.77.0.2\" inside_port: 80 }"
expect 2 '^unatd: config: forward\[0\]\.namespace: "nope" is not the name of an inside network$' \
  "$good
forward { proto: TCP external_port: 80 namespace: \"nope\" inside_address: \"10.77.0.2\" inside_port: 80 }"
expect 2 '^unatd: config: forward\[0\]\.inside_address: "10\.78\.0\.2" is not a host of inside network lan' \
  "$good
forward { proto: UDP external_port: 80 namespace: \"lan\" inside_address: \"10.78.0.2\" inside_port: 80 }"
expect 2 '^unatd: config: inside\[0\]\.address: "10\.77\.0\.300/24" is not ADDRESS/PREFIX$' \
  "${good/10.77.0.1\/24/10.77.0.300/24}"
expect 2 '^unatd: config: outside\.external_address\[0\]: "203\.0\.113" is not an IPv4 address$' \
  "${good/external_address: \"203.0.113.1\"/external_address: \"203.0.113\"}"
expect 2 '^unatd: config: .*c[0-9]+\.conf:5:[0-9]+: Message type "unat\.config\.Config" has no field named "bogus"\.$' \
  "$good
bogus: 1"
expect 2 '^unatd: config: .*c[0-9]+\.conf:5:24: ports\.max: "x" is not an unsigned integer \(uint32\)$' \
  "$good
ports { min: 1024 max: \"x\" }"
# Wrong-type values name the field's path and the value as written (issue 13;
# protobuf's own words were `Expected integer, got: "fast"` / `got: -`).
expect 2 '^unatd: config: .*c[0-9]+\.conf:5:19: timeouts\.udp_s: "fast" is not an unsigned integer \(uint32\)$' \
  "$good
timeouts { udp_s: \"fast\" }"
expect 2 '^unatd: config: .*c[0-9]+\.conf:1:[0-9]+: inside\[0\]\.mtu: -1 is not an unsigned integer \(uint32\)$' \
  "${good/address: \"10.77.0.1\/24\" \}/address: \"10.77.0.1/24\" mtu: -1 \}}"
expect 2 '^unatd: config: .*c[0-9]+\.conf:5:12: filtering: SOMETIMES is not one of ADDRESS_AND_PORT_DEPENDENT, ADDRESS_DEPENDENT, ENDPOINT_INDEPENDENT$' \
  "$good
filtering: SOMETIMES"
expect 2 '^unatd: config: .*c[0-9]+\.conf:5:19: helpers\.natpmp: maybe is not true or false$' \
  "$good
helpers { natpmp: maybe }"
expect 2 '^unatd: config: .*c[0-9]+\.conf:6:[0-9]+: forward\[1\]\.inside_port: 70000000000 is out of range for an unsigned integer \(uint32\)$' \
  "$good
forward { proto: TCP external_port: 80 namespace: \"lan\" inside_address: \"10.77.0.2\" inside_port: 80 }
forward { inside_port: 70000000000 }"
expect 2 '^unatd: config: portmap\.max_per_namespace: 2000000 is out of range 0\.\.1048576$' \
  "$good
portmap { max_per_namespace: 2000000 }"
expect 2 '^unatd: config: tx_queue_len: 2000000 is out of range 0\.\.1000000$' \
  "$good
tx_queue_len: 2000000"
expect 2 '^unatd: config: helpers\.upnp_igd_version: 3 is not 1 or 2$' \
  "$good
helpers { upnp: true upnp_igd_version: 3 }"
expect 2 '^unatd: config: helpers\.upnp_port: 0 is not a port \(1\.\.65535\)$' \
  "$good
helpers { upnp: true upnp_port: 0 }"
expect 2 '^unatd: config: ports\.min: 5000 is above ports\.max 4000$' \
  "$good
ports { min: 5000 max: 4000 }"
expect 2 '^unatd: config: timeouts\.udp_s: 30 is out of range 120\.\.604800$' \
  "$good
timeouts { udp_s: 30 }"
expect 2 '^unatd: config: inside\[1\]\.name: "lan" is repeated$' \
  "$good
inside { name: \"lan\" device: \"unat1\" netns: \"unat-lan\" address: \"10.78.0.1/24\" }"
expect 2 '^unatd: config: inside: at least one is required$' \
  'outside { device: "w" external_address: "203.0.113.1" }'
expect 2 '^unatd: config: helpers\.h323_registration_s: 30 is out of range 60\.\.86400$' "$good
helpers { h323: true h323_registration_s: 30 }"
expect 2 '^unatd: config: helpers\.sip_media_timeout_s: 5 is out of range 10\.\.3600$' "$good
helpers { sip: true sip_media_timeout_s: 5 }"
expect 2 '^unatd: config: control\.mode: 0666 must give' \
  "${good/control \{ /control { mode: 0666 }"
expect 2 '^unatd: config: .*missing\.conf: cannot open' "$good" --config "$TMP/missing.conf"
expect 2 '^unatd: flags: --bogus: unknown flag \(see --help\)$' "$good" --bogus
expect 2 '^unatd: flags: --port-range: "5000" is not MIN-MAX$' "$good" --port-range 5000
expect 2 '^unatd: flags: --port-range: 70000 is out of range 1\.\.65535$' "$good" --port-range 1000-70000
expect 2 '^unatd: flags: --filtering: "sometimes" is not ' "$good" --filtering sometimes
expect 2 '^unatd: flags: --config: needs a value$' "$good" --config
# A bad flag value is the flag's error, not the config field it overrides.
expect 2 '^unatd: flags: --external-address: "300\.1\.1\.1" is not an IPv4 address$' \
  "$good" --external-address 300.1.1.1
expect 2 '^unatd: flags: --external-address: "127\.0\.0\.1" is not a usable unicast address$' \
  "$good" --external-address 198.51.100.1 --external-address 127.0.0.1
# The metrics endpoint's address (config field, and the flag over it).
expect 2 '^unatd: config: metrics_listen: "foo:99999": "foo" is not an IPv4 address$' \
  "$good
metrics_listen: \"foo:99999\""
expect 2 '^unatd: config: metrics_listen: "127\.0\.0\.1" is not ADDRESS:PORT' \
  "$good
metrics_listen: \"127.0.0.1\""
expect 2 '^unatd: flags: --metrics-listen: "127\.0\.0\.1:99999": port 99999 is out of range 1\.\.65535$' \
  "$good
metrics_listen: \"127.0.0.1:9469\"" --metrics-listen 127.0.0.1:99999
# Routed prefixes and the hardening limits.
expect 2 '^unatd: config: inside\[0\]\.routed_prefix\[0\]: "10\.99\.0\.0" is not ADDRESS/PREFIX$' \
  "${good/address: \"10.77.0.1\/24\"/address: \"10.77.0.1/24\" routed_prefix: \"10.99.0.0\"}"
expect 2 '^unatd: config: inside\[0\]\.routed_prefix\[1\]: "10\.99\.0\.5/24" has host bits set past the prefix$' \
  "${good/address: \"10.77.0.1\/24\"/address: \"10.77.0.1/24\" routed_prefix: \"10.98.0.0/16\" routed_prefix: \"10.99.0.5/24\"}"
expect 2 '^unatd: config: inside\[0\]\.routed_prefix\[0\]: "10\.77\.0\.0/16" overlaps inside\[0\]\.address "10\.77\.0\.1/24"$' \
  "${good/address: \"10.77.0.1\/24\"/address: \"10.77.0.1/24\" routed_prefix: \"10.77.0.0/16\"}"
expect 2 '^unatd: config: inside\[0\]\.routed_prefix\[0\]: "224\.1\.0\.0/16" is not unicast address space$' \
  "${good/address: \"10.77.0.1\/24\"/address: \"10.77.0.1/24\" routed_prefix: \"224.1.0.0/16\"}"
expect 2 '^unatd: config: timeouts\.tcp_inbound_syn_s: 5 is out of range 6\.\.604800$' \
  "$good
timeouts { tcp_inbound_syn_s: 5 }"
expect 2 '^unatd: config: timeouts\.udp_inbound_unanswered_s: 9 is out of range 10\.\.604800$' \
  "$good
timeouts { udp_inbound_unanswered_s: 9 }"
expect 2 '^unatd: config: limits\.max_half_open_per_forward: 0 is out of range 1\.\.1048576$' \
  "$good
limits { max_half_open_per_forward: 0 }"
expect 2 '^unatd: config: limits\.max_half_open: 2000000 is out of range 1\.\.1048576$' \
  "$good
limits { max_half_open: 2000000 }"
# Logging (docs/configuration.md, "Log").
expect 2 '^unatd: config: log_level: "loud" is not error, warn, info or debug$' \
  "$good
log_level: \"loud\""
expect 2 '^unatd: config: log_format: "json" is not plain or syslog$' \
  "$good
log_format: \"json\""
expect 2 '^unatd: flags: --log-level: "warning" is not error, warn, info or debug$' \
  "$good" --log-level warning
expect 2 '^unatd: flags: --log-format: "color" is not plain or syslog$' \
  "$good" --log-format color
# In the syslog format the one fatal line has the error priority too.
expect 2 '^<3>unatd: config: log_level: "loud" is not error, warn, info or debug$' \
  "$good
log_level: \"loud\"" --log-format syslog
# Past the config: a namespace that does not exist (run-time error, rc 1).
# Its name is this run's own, so a lab some other run left up cannot make it
# exist (seen once: a killed run's unat-wan outlived it).
ghost="unat-ghost-$$"
expect 1 "^unatd: device unatw0 in netns $ghost: network namespace $ghost" \
  "${good/netns: \"unat-wan\"/netns: \"$ghost\"}"

# --check-config accepts the good one.
printf '%s\n' "$good" >"$TMP/good.conf"
"$BIN/unatd" --config "$TMP/good.conf" --check-config | grep -q "^config ok" ||
  fail "--check-config rejected a good config"
ok "--check-config accepts a good config"

# Both programs say their version (the project's, from CMakeLists.txt).
for prog in unatd unatctl; do
  v=$("$BIN/$prog" --version)
  [[ $v =~ ^$prog\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "$prog --version printed \"$v\""
  ok "$prog --version: $v"
done
