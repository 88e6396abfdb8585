#!/usr/bin/env bash
# bundle-cli.sh — bundles the compiled program (dist/src/main.js: the CLI and, lazily, the daemon) into
# dist/cli/ with esbuild: one file for what every command loads, lazy chunks for the rest
# (each command, the offline planner, the daemon). npm packages stay external, loaded from
# node_modules as before. Loading ~15 ES modules one by one cost
# ~20 ms of every `berth` command (bench/cli-startup.ts). The DNS answering thread's script
# (dns/answer-worker.js) and the namespace pool's (kernel/netlink/netns-pool-worker.js) are entries
# of their own, beside the chunk that starts them: a Worker
# is given a file.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist/cli
node_modules/.bin/esbuild dist/src/main.js dist/src/dns/answer-worker.js dist/src/kernel/netlink/netns-pool-worker.js --entry-names=[name] --bundle --platform=node --target=node20 --format=esm --splitting \
  --outdir=dist/cli --packages=external --log-level=warning
