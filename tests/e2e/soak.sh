#!/usr/bin/env bash
# Soak (not in the default test run): mixed traffic from both tenants for
# SOAK_MINUTES (default 30) through unatd in the lab, then a drain.
#
#   tests/e2e/soak.sh                 30 minutes of traffic, then the drain
#   SOAK_MINUTES=5 tests/e2e/soak.sh  a shorter one
#
# Round after round, without pause, each tenant opens and closes a TCP
# connection (curl, 20 kB), sends a UDP echo from a new source port and
# pings; every tenth round it takes a NAT-PMP lease and deletes it again,
# and adds and removes a UPnP mapping; every
# SOAK_RELOAD_S (default 180) unatd is reloaded (SIGHUP). Once a minute the
# script samples unatd's RSS, open fds and flows. At the end the traffic
# stops and, after the flows' own timeouts, it checks that the flows are
# back to zero, RSS is back near where it was after the first minute, and
# no fd was gained. Prints a summary (the figures in docs/reliability.md)
# and fails if any check fails. Takes the lab lock like the e2e tests.
source "$(dirname "$0")/lib.sh"
need natpmpc upnpc curl
minutes="${SOAK_MINUTES:-30}"
reload_s="${SOAK_RELOAD_S:-180}"

# Dynamic mappings use 30000-65535, so the fixed external ports the UPnP
# client asks for (20000-20999) never clash with one (that would be a
# correct 718, not a failure).
UNAT_LAB_CONFIG_EXTRA='helpers { natpmp: true pcp: true upnp: true }
ports { min: 30000 max: 65535 }
timeouts { udp_s: 120 icmp_s: 60 }' "$LAB" up
pid="$("$LAB" pid)"
mkdir -p "$TMP/www"
head -c 20000 /dev/urandom >"$TMP/www/blob"
http_server unat-wan "$TMP/www" 203.0.113.2 8000
bg unat-wan "$PY" "$E2E_DIR/udp_echo.py" serve 203.0.113.2 7
wait_udp unat-wan 7

rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
fds() { ls "/proc/$pid/fd" | wc -l; }
flows() { stat_field flows_total; }

errors=0
declare -A failed=()
miss() { errors=$((errors + 1)); failed[$1]=$((${failed[$1]:-0} + 1)); }
tick() { # one round of one tenant's traffic
  local ns=$1 i=$2
  ip netns exec "$ns" curl -s -m 5 -o /dev/null http://203.0.113.2:8000/blob || miss curl
  [ "$(ip netns exec "$ns" "$PY" "$E2E_DIR/udp_echo.py" ask 203.0.113.2 7 200)" = ok ] ||
    miss udp
  ip netns exec "$ns" ping -c 1 -W 2 -q 203.0.113.2 >/dev/null || miss ping
  if ((i % 10 == 0)); then
    local port=$((20000 + i % 1000))
    ip netns exec "$ns" natpmpc -g 10.77.0.1 -a "$port" "$port" udp 60 >/dev/null 2>&1 ||
      miss natpmp_add
    ip netns exec "$ns" natpmpc -g 10.77.0.1 -a "$port" "$port" udp 0 >/dev/null 2>&1 ||
      miss natpmp_del
    ip netns exec "$ns" upnpc -i -u http://10.77.0.1:5000/rootDesc.xml -a 10.77.0.2 "$port" "$port" TCP 120 \
      >/dev/null 2>&1 || miss upnp_add
    ip netns exec "$ns" upnpc -i -u http://10.77.0.1:5000/rootDesc.xml -d "$port" TCP \
      >/dev/null 2>&1 || miss upnp_del
  fi
}

samples="$TMP/samples.csv"
echo "minute,rss_kb,fds,flows" >"$samples"
start=$(date +%s)
end=$((start + minutes * 60))
last_reload=$start
rss_1=""
fds_0=$(fds)
i=0
next_sample=$((start + 60))
while [ "$(date +%s)" -lt "$end" ]; do
  tick unat-lan "$i"
  tick unat-lan2 "$i"
  i=$((i + 1))
  now=$(date +%s)
  if ((now - last_reload >= reload_s)); then
    "$LAB" hup
    last_reload=$now
  fi
  if ((now >= next_sample)); then
    m=$(((now - start) / 60))
    echo "$m,$(rss),$(fds),$(flows)" >>"$samples"
    [ -n "$rss_1" ] || rss_1=$(rss)
    next_sample=$((next_sample + 60))
  fi
  kill -0 "$pid" 2>/dev/null || fail "unatd died during the soak"
done
[ -n "$rss_1" ] || rss_1=$(rss)
peak_flows=$(awk -F, 'NR > 1 && $4 > m {m = $4} END {print m + 0}' "$samples")
reloads=$(stat_field reloads)

# Drain: every flow ends after its own timeout (TCP after a close: 240 s;
# UDP 120 s; ICMP 60 s) and the reaper frees it.
drain_start=$(date +%s)
while [ "$(flows)" -gt 0 ] && [ $(($(date +%s) - drain_start)) -lt 330 ]; do sleep 5; done
drained=$(($(date +%s) - drain_start))
flows_end=$(flows)
rss_end=$(rss)
fds_end=$(fds)
echo "minute,rss_kb,fds,flows:"
cat "$samples"
cat <<EOF
soak: $minutes min, $i rounds per tenant, $reloads reloads, $errors client errors ($(for k in "${!failed[@]}"; do printf '%s %s ' "$k" "${failed[$k]}"; done))
soak: flows peak $peak_flows, $flows_end after a ${drained}s drain
soak: RSS $rss_1 kB after the first minute, $rss_end kB at the end
soak: fds $fds_0 at the start, $fds_end at the end
EOF
[ "$flows_end" -eq 0 ] || fail "$flows_end flows left after the drain"
[ "$fds_end" -le "$fds_0" ] || fail "fds grew: $fds_0 -> $fds_end"
# "Near": within 25% (or 4 MB) of the first minute's RSS.
limit=$((rss_1 + (rss_1 / 4 > 4096 ? rss_1 / 4 : 4096)))
[ "$rss_end" -le "$limit" ] || fail "RSS grew: $rss_1 -> $rss_end kB"
[ "$errors" -eq 0 ] || fail "$errors client requests failed"
ok "soak passed"
