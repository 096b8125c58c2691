# shellcheck shell=bash disable=SC2154
# (script_name, conf and run_dir come from the script that sources this.)
# Shared by docs/examples/routed-pool.sh and container-host.sh: sourced,
# never run. See docs/deployment.md.
#
# What a script creates is written down, one undo step a line, in
# $UNAT_RUN_DIR/created as it is made; `down` replays that file backwards, so
# it removes exactly what `up` made (the processes by pid) and nothing the
# machine had before, and it is fine to run when nothing is up.
#
# Environment (all optional):
#   UNAT_BIN_DIR     where unatd and unatctl are (default: $UNAT_BUILD_DIR/tun,
#                    else the repository's build/tun, else $PATH)
#   UNAT_CONFIG      unatd's config (default: the example next to the script)
#   UNAT_RUN_DIR     control socket, state, pid, log, the undo list
#   UNAT_HOST_NETNS  the network namespace that plays the host (default: the
#                    one the script runs in; the e2e test uses a namespace)
set -euo pipefail

ex_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$ex_dir/../.." && pwd)"

if [ -n "${UNAT_BIN_DIR:-}" ]; then
  bin_dir="$UNAT_BIN_DIR"
elif [ -n "${UNAT_BUILD_DIR:-}" ]; then
  case "$UNAT_BUILD_DIR" in
    /*) bin_dir="$UNAT_BUILD_DIR/tun" ;;
    *) bin_dir="$repo_root/$UNAT_BUILD_DIR/tun" ;;
  esac
elif [ -x "$repo_root/build/tun/unatd" ]; then
  bin_dir="$repo_root/build/tun"
else
  bin_dir="$(dirname "$(command -v unatd 2>/dev/null || echo /usr/sbin/unatd)")"
fi
sock="$run_dir/unatd.sock"
pidf="$run_dir/unatd.pid"
logf="$run_dir/unatd.log"
undo="$run_dir/created"

die() {
  echo "$script_name: $*" >&2
  exit 1
}

# The host: the namespace given by UNAT_HOST_NETNS, else this one. `down`
# uses the one `up` recorded.
host_ns="${UNAT_HOST_NETNS:-}"
if [ -s "$run_dir/host-netns" ]; then host_ns="$(cat "$run_dir/host-netns")"; fi
H=()
set_host() {
  H=()
  if [ -n "$host_ns" ]; then H=(ip netns exec "$host_ns"); fi
}
set_host
# hostrun CMD...: CMD on the host.
hostrun() { "${H[@]}" "$@"; }

# record KIND ARGS...: one undo step (see do_undo).
record() { echo "$*" >>"$undo"; }

# Whether PID is a live unatd (a zombie is not).
is_unatd() {
  local st
  st="$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ] &&
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = unatd ]
}

stop_pid() {
  local pid=$1 i
  is_unatd "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    is_unatd "$pid" || return 0
    sleep 0.1
  done
  echo "$script_name: unatd (pid $pid) ignored SIGTERM for 5 s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

del_netns() {
  local ns=$1 pid
  [ -e "/run/netns/$ns" ] || return 0
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 0.1
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  ip netns del "$ns"
}

# Replays the undo list backwards. Each line: pid N | netns NAME | ip ARGS
# (run on the host) | ipns NS ARGS (ip -n NS ARGS) | sysctl KEY VALUE (on
# the host).
do_undo() {
  [ -f "$undo" ] || return 0
  local kind rest
  while read -r kind rest; do
    # shellcheck disable=SC2086
    case "$kind" in
      pid) stop_pid $rest ;;
      netns) del_netns $rest ;;
      ip) hostrun ip $rest 2>/dev/null || echo "$script_name: could not undo: ip $rest" >&2 ;;
      ipns) ip -n $rest 2>/dev/null || echo "$script_name: could not undo: ip -n $rest" >&2 ;;
      sysctl) hostrun sysctl -qw "${rest% *}=${rest##* }" >/dev/null ;;
    esac
  done < <(tac "$undo")
  rm -f "$undo"
}

down() {
  do_undo
  rm -f "$sock" "$pidf" "$run_dir/state.pb" "$run_dir/host-netns" "$run_dir/start.out"
  rm -f "$run_dir"/state.pb.tmp.* 2>/dev/null || true
  if [ "${UNAT_KEEP_LOG:-0}" != 1 ]; then rm -f "$logf"; fi
  rmdir "$run_dir" 2>/dev/null || true
}

# set_sysctl KEY VALUE: on the host, remembering the old value.
set_sysctl() {
  local old
  old="$(hostrun sysctl -n "$1")"
  [ "$old" = "$2" ] && return 0
  record sysctl "$1" "$old"
  hostrun sysctl -qw "$1=$2" >/dev/null
}

# --- reading the config (the examples' one-line blocks) ---

# The outside block's device and external addresses.
outside_block() { awk '/^[[:space:]]*outside[[:space:]]*\{/ {f = 1} f {print} f && /\}/ {exit}' "$conf"; }
outside_device() { outside_block | grep -o -m 1 'device: *"[^"]*"' | cut -d'"' -f2; }
external_addresses() { outside_block | grep -o 'external_address: *"[^"]*"' | cut -d'"' -f2; }
# One line per inside block: NETNS DEVICE ADDRESS/LEN.
inside_lines() {
  local line ns dev addr
  grep -E '^[[:space:]]*inside[[:space:]]*\{' "$conf" | while read -r line; do
    ns="$(grep -o 'netns: *"[^"]*"' <<<"$line" | cut -d'"' -f2)"
    dev="$(grep -o 'device: *"[^"]*"' <<<"$line" | cut -d'"' -f2)"
    addr="$(grep -o 'address: *"[^"]*"' <<<"$line" | cut -d'"' -f2)"
    echo "${ns:--} $dev $addr"
  done
}
# The config's static forwards (one-line forward blocks): PROTO PORT, the
# protocol in lower case.
forward_ports() {
  local line proto port
  grep -E '^[[:space:]]*forward[[:space:]]*\{' "$conf" | while read -r line; do
    proto="$(grep -oE 'proto: *[A-Z]+' <<<"$line" | awk '{print tolower($2)}')"
    port="$(grep -oE 'external_port: *[0-9]+' <<<"$line" | awk '{print $2}')"
    echo "$proto $port"
  done
}

# --- building ---

common_checks() {
  [ "$(id -u)" -eq 0 ] || die "needs root"
  [ -x "$bin_dir/unatd" ] || die "no unatd in $bin_dir (set UNAT_BIN_DIR or build first)"
  [ -f "$conf" ] || die "no config $conf"
  if [ -n "$host_ns" ] && [ ! -e "/run/netns/$host_ns" ]; then
    die "UNAT_HOST_NETNS: no network namespace $host_ns"
  fi
  local out
  out="$("$bin_dir/unatd" --config "$conf" --check-config 2>&1)" || die "$out"
  [ -n "$(outside_device)" ] || die "$conf: no outside device"
}

# The host address of a tenant: the gateway's address plus one.
host_address() {
  local gw=${1%/*} len=${1#*/}
  echo "${gw%.*}.$((${gw##*.} + 1))/$len"
}

# make_tenants: each inside block's namespace and TUN device, unless they
# exist or the netns is a path (then they are the operator's and stay as
# they are): the device gets
# the gateway's address plus one and a default route via the gateway.
make_tenants() {
  local ns dev addr
  while read -r ns dev addr; do
    [ "$ns" != - ] || die "inside device $dev: give it a netns (the script makes tenant namespaces)"
    if [ "${ns#/}" != "$ns" ]; then
      # A path (/proc/PID/ns/net: a container's): the operator's, as is.
      [ -e "$ns" ] || die "inside device $dev: no namespace $ns"
      continue
    fi
    if [ ! -e "/run/netns/$ns" ]; then
      ip netns add "$ns"
      record netns "$ns"
      ip -n "$ns" link set lo up
      ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
    fi
    if ! ip -n "$ns" link show "$dev" >/dev/null 2>&1; then
      ip -n "$ns" tuntap add dev "$dev" mode tun
      record ipns "$ns" link del "$dev"
      ip -n "$ns" addr add "$(host_address "$addr")" dev "$dev"
      ip -n "$ns" link set "$dev" up
      ip -n "$ns" route add default via "${addr%/*}" dev "$dev" onlink
    fi
  done < <(inside_lines)
}

# make_outside: the outside TUN device on the host (persistent, so routes to
# it survive unatd restarts), up.
make_outside() {
  local dev
  dev="$(outside_device)"
  if ! hostrun ip link show "$dev" >/dev/null 2>&1; then
    hostrun ip tuntap add dev "$dev" mode tun
    record ip link del "$dev"
  fi
  hostrun sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" >/dev/null 2>&1 || true
  hostrun ip link set "$dev" up
}

# host_ip ARGS...: `ip ARGS` on the host, and its undo (ARGS with del).
host_ip() {
  local obj=$1 verb=$2
  shift 2
  hostrun ip "$obj" "$verb" "$@"
  record ip "$obj" del "$@"
}

# start_unatd FLAGS...: unatd as a daemon on the host; returns once it is
# ready (unatd's parent waits for that).
start_unatd() {
  # (Its output to a file, not a pipe: the daemon must not hold our pipe.)
  if ! hostrun "$bin_dir/unatd" --config "$conf" --ctl-socket "$sock" \
    --state-file "$run_dir/state.pb" --pid-file "$pidf" --log-file "$logf" "$@" \
    </dev/null >"$run_dir/start.out" 2>&1; then
    echo "$script_name: unatd did not start: $(cat "$run_dir/start.out")" >&2
    tail -n 20 "$logf" >&2 2>/dev/null || true
    return 1
  fi
  rm -f "$run_dir/start.out"
  local pid
  pid="$(cat "$pidf")"
  is_unatd "$pid" || die "unatd (pid $pid) is not running"
  record pid "$pid"
}

begin_up() {
  common_checks
  if [ -f "$undo" ]; then down; fi
  mkdir -p "$run_dir"
  : >"$undo"
  if [ -n "$host_ns" ]; then echo "$host_ns" >"$run_dir/host-netns"; fi
  # A failure half-way takes down what was made so far.
  # shellcheck disable=SC2154
  trap 'rc=$?; [ "$rc" -eq 0 ] || { echo "$script_name: up failed; removing what it made" >&2; UNAT_KEEP_LOG=1 down; }' EXIT
}

# Commands both scripts have besides up.
common_command() {
  case "${1:-}" in
    down) down ;;
    ctl)
      shift
      exec "$bin_dir/unatctl" --socket "$sock" "$@"
      ;;
    pid) cat "$pidf" ;;
    log) cat "$logf" 2>/dev/null || true ;;
    log-path) echo "$logf" ;;
    *)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2
      exit 2
      ;;
  esac
}
