#!/usr/bin/env bash
# sandbox.sh CMD [ARGS...] — run CMD as root inside private network, mount and pid
# namespaces, so nothing it does to links, routes, namespaces, sysctls or nftables reaches
# this machine's own network, and `ps` inside sees only the sandbox's own processes (two
# runs on one machine cannot see, or fail, each other). Inside: a fresh netns with only lo
# (up), a private tmpfs on /run (so /run/netns and /run/berth are the sandbox's own) and on
# /var/lib/berth (berth's default data root: a daemon started in here never adopts another
# sandbox's containers). When CMD exits, the kernel ends every process it left behind
# (the pid namespace dies with its first process, this script).
set -euo pipefail
if [[ "${BERTH_SANDBOX:-}" != 1 ]]; then
  [[ $(id -u) == 0 ]] || { echo "sandbox.sh: needs root (it creates namespaces)" >&2; exit 1; }
  exec env BERTH_SANDBOX=1 unshare --net --mount --pid --fork --mount-proc --propagation private -- "$0" "$@"
fi
mount -t tmpfs -o mode=755 berth-sandbox-run /run
mkdir -p /run/netns /run/berth
# An empty /var/lib/berth on this machine's disk is the mount point; its content here is the
# sandbox's own tmpfs, gone when the sandbox ends.
mkdir -p /var/lib/berth
mount -t tmpfs -o mode=700 berth-sandbox-data /var/lib/berth
ip link set lo up
# Not exec: this shell stays the pid namespace's init, reaping orphans (a container whose
# daemon died) until CMD ends.
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
wait "$child"
