#!/usr/bin/env bash
# Capture loss of `tapaudit live` at tcpreplay --topspeed over a veth pair.
#
#   sudo native-notes/measure-loss.sh CAPTURE.pcap [extra tapaudit live args...]
#
# Everything happens inside a network namespace this script creates (and deletes on exit):
# veth pair tl0 <-> tl1, tcpreplay sends the capture out of tl0, tapaudit captures on tl1.
# No frame leaves the namespace. Prints one line: packets sent (tcpreplay), frames the
# kernel counted on tl1, packets tapaudit saw, lost, and tcpreplay's rate.
# PPS=N replays at N packets/s instead of --topspeed; MTU=N sets the veth MTU (default 1500,
# a mirror port's; 9000 for captures with bigger frames, at the cost of a ring holding 6x
# fewer frames: native-notes/README.md §6).
# Generate a capture with: node dist/gen/bench-captures.js /tmp/lossm --packets 300000
# Needs ethtool (Debian package ethtool) to turn the veth's receive offloads off; without
# it the script stops (OFFLOADS=keep measures anyway, with offloads on).
set -euo pipefail
cd "$(dirname "$0")/.."
CAP=${1:?usage: measure-loss.sh CAPTURE.pcap [tapaudit live args...]}
shift
# With the offloads on, libpcap sizes each ring frame by the 65,535-byte snaplen, a 1 GB
# ring holds ~32k frames, and what is lost is the ring's start-up margin, not tapaudit's
# pace: on the session 16 VM, 0.6-4.7 % lost at 100-220 kpps without ethtool, none at
# 160-218 kpps with it (the same builds). It only warned, and the warning was missed.
if ! command -v ethtool >/dev/null; then
  if [ "${OFFLOADS:-}" != keep ]; then
    echo "measure-loss.sh: ethtool is not installed (apt-get install ethtool); without it the veth keeps its receive offloads and the loss measured is the capture ring's, not tapaudit's (OFFLOADS=keep to measure anyway)" >&2
    exit 2
  fi
  echo "measure-loss.sh: OFFLOADS=keep: offloads stay on, the ring holds far fewer frames" >&2
fi
NS=tapaudit-loss-$$
OUT=$(mktemp -d)
PID=
cleanup() {
  if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; fi
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$OUT"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link add tl0 type veth peer name tl1
ip -n "$NS" link set tl0 up
ip -n "$NS" link set tl1 up
ip -n "$NS" link set tl0 mtu ${MTU:-1500}
ip -n "$NS" link set tl1 mtu ${MTU:-1500}
# A mirror port's settings (native-notes/README.md §4): no receive offloads, so the capture
# sees wire frames, and libpcap then sizes each ring frame by the MTU rather than by cap's
# fixed snaplen of 65,535 (with any of them on, a 1 GB ring holds only ~32k frames).
if command -v ethtool >/dev/null; then
  ip netns exec "$NS" ethtool -K tl1 gro off gso off tso off lro off >/dev/null 2>&1 || true
fi

ip netns exec "$NS" dist/bin/tapaudit.js live -i tl1 --stats-interval 3600 --flows /dev/null "$@" 2>"$OUT/err" &
PID=$!
for _ in $(seq 100); do grep -q 'listening on' "$OUT/err" && break; sleep 0.1; done
grep -q 'listening on' "$OUT/err" || { cat "$OUT/err"; exit 1; }

RATE=--topspeed
[ -n "${PPS:-}" ] && RATE=--pps=$PPS
ip netns exec "$NS" tcpreplay "$RATE" -i tl0 "$CAP" >"$OUT/replay" 2>&1 || { cat "$OUT/replay"; exit 1; }
sleep 2 # let the sensor drain its ring
kill -TERM "$PID"
wait "$PID" || true
PID=

sent=$(awk '/Actual:/ {print $2; exit}' "$OUT/replay")
rate=$(awk '/Rated:/ {for (i = 1; i <= NF; i++) if ($i ~ /pps/) print $(i-1); exit}' "$OUT/replay")
last=$(grep '"type":"stats"' "$OUT/err" | tail -1)
node -e '
  const s = JSON.parse(process.argv[1]);
  const [sent, rate, cap] = process.argv.slice(2);
  const t = s.capture_loss_total;
  console.log(`${cap}: sent ${sent}, kernel rx ${t.kernel_rx}, seen ${s.packets}, lost ${t.lost} (${(100 * (t.ratio ?? 0)).toFixed(2)} %), tcpreplay ${rate} pps`);
' "$last" "$sent" "$rate" "$(basename "$CAP")"
