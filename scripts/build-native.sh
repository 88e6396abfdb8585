#!/usr/bin/env bash
# build-native.sh — compiles berth's one native program, native/berth-init.c (a container's
# first process), to dist/native/berth-init: static, so it starts without the dynamic
# loader (docs/decisions.md), and with every warning an error (its lint).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p dist/native
cc -std=c11 -O2 -static -Wall -Wextra -Wpedantic -Wshadow -Werror -o dist/native/berth-init.tmp native/berth-init.c
mv dist/native/berth-init.tmp dist/native/berth-init
