import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MissingFeatureError } from '../../src/common/errors.js';
import { findLaunchTools } from '../../src/kernel/launch-tools.js';

const TOOLS = ['busybox', 'nsenter', 'mount', 'id', 'setpriv'];

/** Directories of executable stand-ins, the first holding `first`, the second the rest (and a second copy of all). */
function toolDirs(first: readonly string[]): { root: string; path: string } {
  const root = mkdtempSync(join(tmpdir(), 'berth-launch-tools-'));
  for (const [dir, tools] of [['a', first], ['b', TOOLS]] as const) {
    mkdirSync(join(root, dir));
    for (const tool of tools) {
      writeFileSync(join(root, dir, tool), '#!/bin/sh\n');
      chmodSync(join(root, dir, tool), 0o755);
    }
  }
  return { root, path: `/nonexistent:${join(root, 'a')}:${join(root, 'b')}` };
}

test('the launch tools are found once, by absolute path, in PATH order', () => {
  const { root, path } = toolDirs(['busybox', 'mount']);
  try {
    assert.deepEqual(findLaunchTools(path), {
      busybox: join(root, 'a', 'busybox'),
      nsenter: join(root, 'b', 'nsenter'),
      mount: join(root, 'a', 'mount'),
      id: join(root, 'b', 'id'),
      setpriv: join(root, 'b', 'setpriv'),
    });
  } finally {
    rmSync(root, { recursive: true });
  }
});

test('a missing launch tool is named with the package to install; a file that is not executable does not count', () => {
  const { root } = toolDirs([]);
  try {
    chmodSync(join(root, 'b', 'busybox'), 0o644);
    assert.throws(() => findLaunchTools(join(root, 'b')), (err: unknown) => {
      assert.ok(err instanceof MissingFeatureError);
      assert.match(err.message, /^"busybox" is not installed/);
      assert.equal(err.hint, 'install it: apt-get install busybox-static');
      return true;
    });
    assert.throws(() => findLaunchTools(''), /"busybox" is not installed/);
  } finally {
    rmSync(root, { recursive: true });
  }
});
