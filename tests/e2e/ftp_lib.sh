# Shared by the FTP e2e tests (sourced after lib.sh): a vsftpd of our own.

# vsftpd_start NS ROOT ADDR: anonymous, read-only vsftpd serving ROOT in NS
# with its own config file, in the foreground (killed by PID, and by
# lab.sh down with the namespace's processes). Debian's defaults stay:
# port_promiscuous=NO (a PORT naming another address than the control
# connection's peer is "500 Illegal PORT command") and pasv_promiscuous=NO.
vsftpd_start() {
  local ns=$1 root=$2 addr=$3
  mkdir -p "$TMP/vsftpd-empty"
  chmod 755 "$root" "$TMP/vsftpd-empty"
  cat >"$TMP/vsftpd-$ns.conf" <<CONF
listen=YES
listen_ipv6=NO
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root=$root
local_enable=NO
write_enable=NO
port_enable=YES
pasv_enable=YES
pasv_min_port=30000
pasv_max_port=30999
connect_from_port_20=YES
secure_chroot_dir=$TMP/vsftpd-empty
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
xferlog_enable=YES
vsftpd_log_file=$TMP/vsftpd-$ns.log
dual_log_enable=YES
log_ftp_protocol=YES
CONF
  ip netns exec "$ns" vsftpd "$TMP/vsftpd-$ns.conf" </dev/null \
    >>"$TMP/vsftpd-$ns.out" 2>&1 &
  VSFTPD_PIDS+=($!)
  wait_tcp "$ns" "$addr" 21
}
VSFTPD_PIDS=()

vsftpd_stop() {
  local p
  for p in "${VSFTPD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  VSFTPD_PIDS=()
}

# sha OF FILE
sha() { sha256sum "$1" | cut -d' ' -f1; }

# counter NAME: an ALG counter from unatctl stats (0 when absent).
counter() {
  ctl --json stats | "$PY" -c "
import json,sys
d=json.load(sys.stdin)
print(next((int(c.get('value',0)) for c in d['stats'].get('helpers',[]) if c['name']=='$1'),0))"
}
