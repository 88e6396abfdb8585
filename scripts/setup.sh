#!/usr/bin/env bash
# setup.sh [--with-peers] — everything berth needs on a fresh Debian 12 machine, as root:
# system packages (apt-get), npm packages (npm ci) and the build (tsc, musl-gcc). etcd-server is
# for overlay networks (their cluster store); gcc and musl-tools build berth-init (every
# container's first process, native/berth-init.c); docker.io (dockerd 20.10 and its CLI),
# busybox-static (the tests' image), python3-docker and docker-compose are the real Docker
# clients and the dockerd berth serves as a plugin. The tests start their own etcd members
# and dockerds, so no package's service is ever started here. chromium (headless, driven by
# puppeteer-core) is the browser the topology page is tested in. e2fsprogs (lsattr; in every
# Debian) is how the tests read the data root's directory flag without berth's own code.
#   --with-peers  also Podman 4.3 with netavark and aardvark-dns, and dnsperf, for the side-by-side benchmarks
#                 (../shared/peers/podman-lab.sh; docker-lab.sh uses docker.io), and perf (linux-perf) for
#                 bench/bridge-join-profile.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(iproute2 nftables iptables util-linux e2fsprogs gcc musl-tools iputils-ping procps python3 etcd-server docker.io busybox-static python3-docker docker-compose chromium)
[[ "${1:-}" == --with-peers ]] && packages+=(aardvark-dns podman netavark dnsperf linux-perf)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if ((${#missing[@]})); then
  apt-get update -q
  # No package's service may start as a side effect (etcd-server and docker.io ship one): a temporary
  # policy-rc.d refuses every start during the install, unless the machine has its own.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 20)); then
  echo "setup.sh: berth needs Node.js >= 20 (found: $(node -v 2>/dev/null || echo none))" >&2
  exit 1
fi
npm ci --no-audit --no-fund
npm run build
