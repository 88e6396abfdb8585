#!/usr/bin/env bash
# bridge-join-profile.sh — where the kernel's cost of joining a bridge grows with its ports.
#
# The kernel alone, no berth: a bridge made as berth makes its bridges (forward_delay 0,
# mcast_snooping 0, an address of its own), PORTS namespaces, and one veth pair per
# namespace, born with its peer (eth0) inside it and its host end joining the bridge, up —
# the veth step of every bridge attach (docs/benchmarks.md, attach section). One `ip -batch`
# makes each window of pairs, so no process start is in the figures. `perf record` samples
# the first WINDOW joins and the last WINDOW; the table shows, per kernel function, its
# inclusive CPU time per join in both, largest growth first: what makes the 1,000th join
# dearer than the first.
#
# Run it inside the sandbox (it makes links and namespaces): scripts/sandbox.sh bench/bridge-join-profile.sh
# Needs perf (Debian's linux-perf; scripts/setup.sh --with-peers) and python3.
set -euo pipefail
if [[ "${BERTH_SANDBOX:-}" != 1 ]]; then
  echo "bridge-join-profile.sh: run it inside the sandbox: scripts/sandbox.sh $0" >&2
  exit 1
fi
command -v perf >/dev/null || { echo "bridge-join-profile.sh: needs perf (apt-get install linux-perf, or scripts/setup.sh --with-peers)" >&2; exit 1; }
PORTS=${PORTS:-1000}
WINDOW=${WINDOW:-200}
FREQ=4000 # samples per second of CPU: one sample stands for 250 µs
if ((WINDOW < 1 || 2 * WINDOW > PORTS || PORTS > 1023)); then
  echo "bridge-join-profile.sh: needs 1 <= WINDOW <= PORTS/2 and PORTS <= 1023 (a bridge's port limit); got PORTS=$PORTS WINDOW=$WINDOW" >&2
  exit 1
fi
work=$(mktemp -d /run/bridge-join.XXXXXX)
trap 'rm -rf "$work"' EXIT

ip link add berth0 address 02:42:c0:00:02:01 type bridge forward_delay 0 mcast_snooping 0
ip link set berth0 up
seq 1 "$PORTS" | sed 's/^/netns add c/' > "$work/namespaces"
ip -batch "$work/namespaces"
joins() { seq "$1" "$2" | sed 's/.*/link add h& master berth0 up type veth peer name eth0 netns c&/'; }
joins 1 "$WINDOW" > "$work/first"
joins $((WINDOW + 1)) $((PORTS - WINDOW)) > "$work/middle"
joins $((PORTS - WINDOW + 1)) "$PORTS" > "$work/last"

profiled() {
  perf record -q -g -F "$FREQ" -o "$work/$1.data" ip -batch "$work/$1"
  perf script -i "$work/$1.data" -F time,ip,sym > "$work/$1.stacks" 2>/dev/null
}
profiled first
if ((PORTS > 2 * WINDOW)); then ip -batch "$work/middle"; fi
profiled last

echo "# the kernel joining veth pairs to one bridge (ip -batch under perf at $FREQ Hz): joins 1-$WINDOW and $((PORTS - WINDOW + 1))-$PORTS"
python3 - "$work" "$WINDOW" "$FREQ" <<'EOF'
import collections, sys
work, window, freq = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def inclusive(name):
    """Samples in which each function is on the stack (counted once per sample), and the
    window's wall time from its first sample to its last (s)."""
    counts, times = collections.Counter(), []
    with open(f'{work}/{name}.stacks') as f:
        for sample in f.read().split('\n\n'):
            lines = sample.strip().splitlines()
            if not lines:
                continue
            times.append(float(lines[0].strip().rstrip(':')))
            counts.update({line.split()[1] for line in lines[1:] if len(line.split()) > 1})
    return counts, max(times) - min(times)
(first, first_s), (last, last_s) = inclusive('first'), inclusive('last')
print(f"wall time per join, from the window's first sample to its last (perf's own cost in it): {first_s * 1e6 / window:.0f} µs, then {last_s * 1e6 / window:.0f} µs")
us = lambda samples: samples * 1e6 / freq / window
# The request's callers (the system call's entry, sendmsg) say nothing rtnl_newlink does not.
callers = {f for f in last if last[f] >= last['rtnl_newlink'] and f != 'rtnl_newlink'}
rows = sorted((f for f in set(first) | set(last) if f not in callers and us(max(first[f], last[f])) >= 10), key=lambda f: first[f] - last[f])
print(f"| {'kernel function (inclusive)':<42} | {'µs per join, first':>18} | {'µs per join, last':>17} | {'growth µs':>9} |")
print(f"| {'-' * 42} | {'-' * 18} | {'-' * 17} | {'-' * 9} |")
for f in rows[:30]:
    print(f"| {f:<42} | {us(first[f]):18.0f} | {us(last[f]):17.0f} | {us(last[f] - first[f]):+9.0f} |")
EOF
