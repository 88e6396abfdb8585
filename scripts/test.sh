#!/usr/bin/env bash
# test.sh — the whole suite: lint, typecheck + build, unit tests and the integration tests
# on the real kernel. Everything runs inside scripts/sandbox.sh's private network + mount
# namespace, so this machine's own network is never touched. Files run one at a time:
# reconcile tests remove berth namespaces no record owns, which would include another
# file's. Expects scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent lint
npm run --silent build
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
exec scripts/sandbox.sh node --test --test-concurrency=1 "${files[@]}"
