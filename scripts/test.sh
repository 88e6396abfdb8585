#!/usr/bin/env bash
# test.sh — the whole suite: lint, typecheck + build, unit tests and the integration tests
# on the real kernel. Everything runs inside scripts/sandbox.sh's private network, mount
# and pid namespaces, so this machine's own network is never touched.
#
# The test files run in two sandboxes side by side, one file at a time in each: within a
# sandbox files must not overlap (reconcile tests remove berth namespaces no record owns,
# which would include another file's), but two sandboxes cannot see each other (each has
# its own network namespace, /run and /var/lib/berth). Most of a file's time is waiting on
# the kernel and daemons, so two lanes on two cores take ~40% less time than one. The
# files are dealt to the lanes by their measured seconds (scripts/test-weights.txt; a file
# not listed counts 10 s), heaviest first, each to the lighter lane.
#
# Output: one line per test file as it finishes (from both lanes), every failure in full,
# a closing "N passed, N failed, N skipped" per lane and one for the whole suite
# (test/reporter.ts). The full TAP streams are kept in dist/test-results-{1,2}.tap.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "lint..."
npm run --silent lint
echo "typecheck and build..."
npm run --silent build
# "seconds path" per file, heaviest first: the measured weights, 10 s for a file not listed.
mapfile -t files < <(find dist/test -name '*.test.js' | sort | awk 'NR == FNR { w[$2] = $1; next } { print (($0 in w) ? w[$0] : 10), $0 }' scripts/test-weights.txt - | sort -rn)
lanes=([1]="" [2]="")
weight=([1]=0 [2]=0)
for entry in "${files[@]}"; do
  lane=$(( weight[1] <= weight[2] ? 1 : 2 ))
  lanes[lane]+="${entry#* } "
  weight[lane]=$(( weight[lane] + ${entry%% *} ))
done
echo "running ${#files[@]} test files in two sandboxes..."
pids=()
for lane in 1 2; do
  # shellcheck disable=SC2086 # the lane's files, split on spaces (paths have none)
  ( set -o pipefail
    scripts/sandbox.sh node --test --test-concurrency=1 \
      --test-reporter=./dist/test/reporter.js --test-reporter-destination=stdout \
      --test-reporter=tap --test-reporter-destination="dist/test-results-$lane.tap" \
      ${lanes[lane]} | tee "dist/test-output-$lane.txt" ) &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
# The suite's total, from each lane's closing line.
tail -qn1 dist/test-output-1.txt dist/test-output-2.txt |
  awk '{ p += $1; f += $3; s += $5 } END { printf "\nwhole suite: %d passed, %d failed, %d skipped\n", p, f, s }'
exit "$status"
