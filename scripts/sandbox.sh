#!/usr/bin/env bash
# sandbox.sh CMD [ARGS...] — run CMD as root inside a private network + mount namespace,
# so nothing it does to links, routes, namespaces, sysctls or nftables reaches this
# machine's own network. Inside: a fresh netns with only lo (up), and a private tmpfs on
# /run (so /run/netns and /run/berth are the sandbox's own).
set -euo pipefail
if [[ "${BERTH_SANDBOX:-}" != 1 ]]; then
  [[ $(id -u) == 0 ]] || { echo "sandbox.sh: needs root (it creates namespaces)" >&2; exit 1; }
  exec env BERTH_SANDBOX=1 unshare --net --mount --propagation private --fork -- "$0" "$@"
fi
mount -t tmpfs -o mode=755 berth-sandbox-run /run
mkdir -p /run/netns /run/berth
ip link set lo up
exec "$@"
