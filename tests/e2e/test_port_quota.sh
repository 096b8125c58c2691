#!/usr/bin/env bash
# Issue 13 defect 2: one tenant cannot take every external port. The pool
# is 10000 UDP ports (20000-29999) and two tenants share it, so each gets
# 5000 by default. lan floods from three spoofed in-prefix sources, 4000
# source ports each (hping3 counts the source port up): without a quota
# that took the whole pool and lan2's UDP failed. Now lan stops at 5000
# (namespace_port_limit counted), its per-host limit still holds, and lan2
# keeps working.
source "$(dirname "$0")/lib.sh"
need hping3
UNAT_LAB_CONFIG_EXTRA='ports { min: 20000 max: 29999 }' "$LAB" up
bg unat-wan "$PY" "$E2E_DIR/udp_echo.py" serve 203.0.113.2 7
wait_udp unat-wan 7

for h in 50 51 52; do
  lan hping3 --udp -a "10.77.0.$h" -s 30000 -p 9 -i u100 -c 4000 -q 203.0.113.2 >/dev/null 2>&1 || true
done
ctl --json namespaces >"$TMP/ns.json"
lan_ports=$(json '[n for n in d["namespaces"] if n["name"] == "lan"][0].get("udp_ports", 0)' <"$TMP/ns.json")
quota=$(json '[n for n in d["namespaces"] if n["name"] == "lan"][0].get("port_quota", 0)' <"$TMP/ns.json")
[ "$quota" -eq 5000 ] || fail "quota $quota, want 5000 (10000 ports / 2 tenants)"
[ "$lan_ports" -eq 5000 ] || fail "lan holds $lan_ports UDP ports, want its quota 5000"
refused=$(drop_count namespace_port_limit)
[ "$refused" -gt 0 ] || fail "no namespace_port_limit drop"
ok "lan flooded 12000 source ports: held $lan_ports of quota $quota, $refused refused"

for p in 1 2 3; do
  [ "$(lan2 "$PY" "$E2E_DIR/udp_echo.py" ask 203.0.113.2 7 64)" = ok ] ||
    fail "lan2's UDP failed while lan is at its quota"
done
lan2 ping -c 1 -W 2 203.0.113.2 >/dev/null || fail "lan2 ping"
ok "lan2 still gets ports: UDP echo and ping through unatd"

# The per-host limit still applies under the namespace quota.
UNAT_LAB_CONFIG_EXTRA='ports { min: 20000 max: 29999 } limits { max_ports_per_host: 1000 }' "$LAB" up
lan hping3 --udp -a 10.77.0.60 -s 30000 -p 9 -i u100 -c 1500 -q 203.0.113.2 >/dev/null 2>&1 || true
ctl --json namespaces >"$TMP/ns.json"
lan_ports=$(json '[n for n in d["namespaces"] if n["name"] == "lan"][0].get("udp_ports", 0)' <"$TMP/ns.json")
[ "$lan_ports" -eq 1000 ] || fail "one host holds $lan_ports ports, its limit is 1000"
[ "$(drop_count host_port_limit)" -gt 0 ] || fail "no host_port_limit drop"
ok "one host stops at max_ports_per_host 1000"
