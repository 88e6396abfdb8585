#!/usr/bin/env bash
# build-info.sh — writes dist/build-info.json (version, git commit, build time) for the
# daemon's GET /version. A checkout without git (a tarball) says "unknown".
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(node -p 'require("./package.json").version')
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
mkdir -p dist
printf '{"version":"%s","gitCommit":"%s","buildTime":"%s"}\n' "$version" "$commit" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > dist/build-info.json
