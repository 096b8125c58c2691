#!/usr/bin/env bash
# Every example config under docs/examples/ passes unatd --check-config.
source "$(dirname "$0")/lib.sh"
examples="$E2E_DIR/../../docs/examples"
count=0
for f in "$examples"/*.textproto; do
  out=$("$BIN/unatd" --config "$f" --check-config 2>&1) || fail "$(basename "$f"): $out"
  ok "$(basename "$f"): $out"
  count=$((count + 1))
done
[ "$count" -ge 3 ] || fail "only $count examples"
