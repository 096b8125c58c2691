#!/usr/bin/env bash
# Topology 1 of docs/deployment.md: a host (VPN concentrator, VM host) to
# which the upstream router routes a pool of external addresses. unatd's
# outside TUN device carries the pool; the host forwards plain IP between
# its uplink and that device. No NAT rule anywhere: unatd does all of it.
#
#   routed-pool.sh up       make the tenant namespaces (each inside block of
#                           the config: its netns, its TUN device with the
#                           gateway's address + 1, a default route via the
#                           gateway), the outside TUN device, a /32 route per
#                           external address into it, ip_forward=1 and
#                           (UNAT_PROXY_ARP=1) proxy ARP entries; start unatd
#   routed-pool.sh down     remove all of that, unatd by its pid; restore
#                           the sysctls it changed (fine when nothing is up)
#   routed-pool.sh ctl ARGS...        unatctl against this unatd
#   routed-pool.sh pid | log | log-path
#
# Environment:
#   UNAT_CONFIG      default docs/examples/routed-pool.textproto; the script
#                    reads the outside device and external addresses, and
#                    one-line inside blocks, from it
#   UNAT_PROXY_ARP=1 the pool is on the uplink's own subnet (the upstream
#                    ARPs for the addresses instead of routing them to the
#                    host): answer ARP for them on UNAT_UPLINK
#   UNAT_UPLINK      the host's uplink device (needed with UNAT_PROXY_ARP)
#   UNAT_RUN_DIR     default /run/unat-routed-pool
#   UNAT_BIN_DIR, UNAT_HOST_NETNS: see uplink-lib.sh
set -euo pipefail
script_name=routed-pool.sh
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
conf="${UNAT_CONFIG:-$here/routed-pool.textproto}"
run_dir="${UNAT_RUN_DIR:-/run/unat-routed-pool}"
# shellcheck source-path=SCRIPTDIR source=uplink-lib.sh
source "$here/uplink-lib.sh"

up() {
  local uplink="${UNAT_UPLINK:-}" proxy_arp="${UNAT_PROXY_ARP:-0}"
  if [ "$proxy_arp" = 1 ]; then
    [ -n "$uplink" ] || die "UNAT_PROXY_ARP=1 needs UNAT_UPLINK (the uplink device)"
    hostrun ip link show "$uplink" >/dev/null 2>&1 || die "UNAT_UPLINK: no device $uplink"
  fi
  begin_up
  local out addr
  out="$(outside_device)"
  # The host routes between its uplink and unatd's outside device.
  set_sysctl net.ipv4.ip_forward 1
  make_tenants
  make_outside
  # Packets to the external addresses go into the outside device, to unatd.
  # This route is also what lets the packets unatd sends from them pass the
  # host's reverse-path filter (rp_filter): their source is routed back
  # through the device they came from. The addresses are NOT assigned to any
  # device of the host.
  for addr in $(external_addresses); do
    host_ip route add "$addr/32" dev "$out"
    if [ "$proxy_arp" = 1 ]; then
      # The upstream router thinks the address is on the link: answer its
      # ARP requests for it with the uplink's MAC (only for these addresses,
      # unlike the proxy_arp sysctl; needs forwarding on the device).
      host_ip neigh add proxy "$addr" dev "$uplink"
    fi
  done
  start_unatd
  echo "$script_name: up: unatd pid $(cat "$pidf"), outside $out, external $(external_addresses | tr '\n' ' ')"
  echo "$script_name: unatctl --socket $sock flows"
}

case "${1:-}" in
  up) up ;;
  *) common_command "$@" ;;
esac
