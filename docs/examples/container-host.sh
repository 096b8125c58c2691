#!/usr/bin/env bash
# Topology 2 of docs/deployment.md: a container host with one address of its
# own on its uplink. The containers (network namespaces) are unatd's
# tenants; unatd's external address is the host's uplink address. The host
# keeps that address for itself (its services, its own connections from its
# ephemeral ports) and policy routing hands unatd its share: what arrives on
# the uplink for unatd's port range, for the config's static forwards, and
# ICMP, goes into unatd's outside TUN device. Plain routing: no NAT rule.
#
#   container-host.sh up    make the container namespaces (each inside block
#                           of the config: its netns, its TUN device with the
#                           gateway's address + 1, a default route via the
#                           gateway), the outside TUN device, the routing
#                           table and rules, the sysctls; start unatd
#   container-host.sh down  remove all of that, unatd by its pid; restore
#                           the rules and sysctls (fine when nothing is up)
#   container-host.sh ctl ARGS...     unatctl against this unatd
#   container-host.sh pid | log | log-path
#
# Environment:
#   UNAT_UPLINK      the host's uplink device (required)
#   UNAT_EXTERNAL    the external address (default: UNAT_UPLINK's first
#                    global IPv4 address)
#   UNAT_CONFIG      default docs/examples/container-host.textproto; the
#                    script reads the outside device, the one-line inside,
#                    ports and forward blocks from it
#   UNAT_TABLE       routing table for unatd's packets (default 4301)
#   UNAT_RULE_PREF   priority of its rules (default 100; the local table's
#                    rule moves from 0 to UNAT_RULE_PREF + 10)
#   UNAT_RUN_DIR     default /run/unat-container-host
#   UNAT_BIN_DIR, UNAT_HOST_NETNS: see uplink-lib.sh
set -euo pipefail
script_name=container-host.sh
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
conf="${UNAT_CONFIG:-$here/container-host.textproto}"
run_dir="${UNAT_RUN_DIR:-/run/unat-container-host}"
# shellcheck source-path=SCRIPTDIR source=uplink-lib.sh
source "$here/uplink-lib.sh"

table="${UNAT_TABLE:-4301}"
pref="${UNAT_RULE_PREF:-100}"

# The config's ports block: MIN MAX.
port_range() {
  local line
  line="$(grep -m 1 -E '^[[:space:]]*ports[[:space:]]*\{' "$conf")"
  [ -n "$line" ] || die "$conf: no one-line ports { min: .. max: .. } block (unatd's share of the ports)"
  echo "$(grep -oE 'min: *[0-9]+' <<<"$line" | awk '{print $2}')" \
    "$(grep -oE 'max: *[0-9]+' <<<"$line" | awk '{print $2}')"
}

up() {
  local uplink="${UNAT_UPLINK:-}"
  [ -n "$uplink" ] || die "set UNAT_UPLINK to the host's uplink device"
  hostrun ip link show "$uplink" >/dev/null 2>&1 || die "UNAT_UPLINK: no device $uplink"
  local ext="${UNAT_EXTERNAL:-}"
  if [ -z "$ext" ]; then
    ext="$(hostrun ip -4 -o addr show dev "$uplink" scope global | awk 'NR == 1 {print $4}' | cut -d/ -f1)"
    [ -n "$ext" ] || die "$uplink has no global IPv4 address (set UNAT_EXTERNAL)"
  fi
  local pmin pmax lmin lmax
  read -r pmin pmax <<<"$(port_range)"
  if [ -z "$pmin" ] || [ -z "$pmax" ]; then die "$conf: the ports block needs min and max"; fi
  # Routing rules match ports 1..65534 (the kernel refuses 65535 in a range).
  [ "$pmax" -le 65534 ] || die "$conf: ports.max $pmax: a routing rule cannot match port 65535; end the range at 65534"
  # The host's own connections take their source ports from this range;
  # unatd's must not overlap it, or replies to one would go to the other.
  read -r lmin lmax <<<"$(hostrun sysctl -n net.ipv4.ip_local_port_range)"
  if [ "$pmin" -le "$lmax" ] && [ "$lmin" -le "$pmax" ]; then
    die "unatd's ports $pmin-$pmax overlap the host's ephemeral ports $lmin-$lmax (net.ipv4.ip_local_port_range)"
  fi
  if [ -n "$(hostrun ip route show table "$table")" ]; then
    die "routing table $table is in use (set UNAT_TABLE)"
  fi
  begin_up
  local out proto port
  out="$(outside_device)"
  set_sysctl net.ipv4.ip_forward 1
  make_tenants
  make_outside
  # No accept_local and no loose rp_filter: unatd sends from the host's own
  # address, but the reverse-path check looks up the packet's reverse (to
  # the address, from the uplink, the ports swapped), which the rules below
  # route into the outside device, the device it came from. So even a
  # strict rp_filter passes, for every packet of unatd's share.
  # unatd's table: everything into its outside device.
  host_ip route add default dev "$out" table "$table"
  # The local table normally decides first (rule 0) that the address is the
  # host's; move it behind unatd's rules, which pick out unatd's share of
  # what arrives on the uplink for the address.
  if grep -q 'lookup local' <<<"$(hostrun ip rule show pref 0)"; then
    host_ip rule add pref "$((pref + 10))" lookup local
    hostrun ip rule del pref 0 lookup local
    record ip rule add pref 0 lookup local
  fi
  for proto in tcp udp; do
    host_ip rule add pref "$pref" iif "$uplink" to "$ext" ipproto "$proto" dport "$pmin-$pmax" lookup "$table"
  done
  while read -r proto port; do
    [ -n "$port" ] || continue
    host_ip rule add pref "$pref" iif "$uplink" to "$ext" ipproto "$proto" dport "$port" lookup "$table"
  done < <(forward_ports)
  # ICMP cannot be split by port: all of it goes to unatd, which answers
  # pings to the address itself and translates the replies and errors of
  # its flows (see docs/deployment.md for what the host gives up).
  host_ip rule add pref "$pref" iif "$uplink" to "$ext" ipproto icmp lookup "$table"
  start_unatd --external-address "$ext"
  echo "$script_name: up: unatd pid $(cat "$pidf"), outside $out, external $ext ports $pmin-$pmax, table $table"
  echo "$script_name: unatctl --socket $sock flows"
}

case "${1:-}" in
  up) up ;;
  *) common_command "$@" ;;
esac
