# Shared by the SIP tests (sourced after lib.sh): baresip phones and
# media captures.

# phone_config DIR ACCOUNT [LISTEN]: a baresip config dir whose phone plays
# a 440 Hz tone (opus) and throws what it hears away; LISTEN defaults to
# 0.0.0.0:5060.
phone_config() {
  mkdir -p "$1"
  cat >"$1/config" <<CONF
poll_method epoll
sip_listen ${3:-0.0.0.0:5060}
audio_player aubridge,nil
audio_alert aubridge,nil
audio_source ausine,440
ausrc_srate 48000
auplay_srate 48000
rtp_ports 10000-10100
module_path /usr/lib/baresip/modules
module opus.so
module ausine.so
module aubridge.so
module_app account.so
module_app menu.so
CONF
  echo "$2" >"$1/accounts"
}

# capture NS IFACE FILE [SECONDS]: the media (UDP but SIP) seen there for
# SECONDS (9), one "src<TAB>dst<TAB>srcport" line a packet, in the
# background; the pids collect in `captures`.
captures=()
capture() {
  ip netns exec "$1" timeout "${4:-9}" tshark -n -i "$2" -f "udp and not port 5060" \
    -T fields -e ip.src -e ip.dst -e udp.srcport >"$3" 2>/dev/null &
  captures+=($!)
}
# count FILE SRC DST: packets from SRC to DST in a capture.
count() { grep -c "^$2	$3	" "$1" || true; }
