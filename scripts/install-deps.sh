#!/usr/bin/env bash
# Installs everything unat needs to build and test, from Debian 12 packages.
# Idempotent: packages already present are left as they are.
set -euo pipefail
pkgs=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libtins-dev libpcap-dev libabsl-dev libprotobuf-dev protobuf-compiler
  libtinyxml2-dev libbenchmark-dev libgtest-dev libgmock-dev
  iproute2 iputils-ping iputils-tracepath curl netcat-openbsd socat python3
  procps psmisc
  natpmpc miniupnpc python3-miniupnpc
  vsftpd lftp tftp-hpa tftpd-hpa ngircd ii
  hping3 python3-scapy
  pptpd pptp-linux
  baresip-core tshark kamailio
  prometheus
  nftables
  iperf3 slirp4netns passt linux-perf liburing-dev
  libsystemd-dev systemd man-db groff-base
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # The test servers (vsftpd, tftpd-hpa, ngircd, kamailio, ...) are run by the tests in
  # their own namespaces; keep their packages from starting system services
  # while installing.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  trap '[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
