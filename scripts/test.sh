#!/usr/bin/env bash
# test.sh — the whole suite: lint, typecheck + build, unit tests and the integration tests
# on the real kernel. Everything runs inside scripts/sandbox.sh's private network, mount
# and pid namespaces, so this machine's own network is never touched. Files run one at a
# time: reconcile tests remove berth namespaces no record owns, which would include another
# file's. Expects scripts/setup.sh to have run.
#
# Output: one line per test file as it finishes, every failure in full, and a closing
# "N passed, N failed, N skipped" (test/reporter.ts). The full TAP stream is kept in
# dist/test-results.tap for digging.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "lint..."
npm run --silent lint
echo "typecheck and build..."
npm run --silent build
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
echo "running ${#files[@]} test files in the sandbox..."
exec scripts/sandbox.sh node --test --test-concurrency=1 \
  --test-reporter=./dist/test/reporter.js --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination=dist/test-results.tap \
  "${files[@]}"
