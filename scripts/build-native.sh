#!/usr/bin/env bash
# build-native.sh — compiles berth's one native program, berth-init (native/launcher.c, the
# resident half the daemon starts once, and native/berth-init.c, a container's first
# process, which the launcher forks), to dist/native/berth-init: static and against musl
# (Debian's musl-tools), so it maps ~90 KB instead of glibc's ~900 KB, and each container's
# fork of it copies that little (docs/decisions.md). Every warning is an error (its lint).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v musl-gcc >/dev/null || { echo "build-native.sh: musl-gcc is missing: install Debian's musl-tools (scripts/setup.sh does)" >&2; exit 1; }
mkdir -p dist/native
musl-gcc -std=c11 -O2 -static -Wall -Wextra -Wpedantic -Wshadow -Werror -s -o dist/native/berth-init.tmp native/launcher.c native/berth-init.c
mv dist/native/berth-init.tmp dist/native/berth-init
