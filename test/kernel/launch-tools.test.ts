import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MissingFeatureError } from '../../src/common/errors.js';
import { findInPath, findLaunchTools } from '../../src/kernel/launch-tools.js';

test('a command is found as a shell finds it: the first executable in PATH order; a file that is not executable does not count', () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-launch-tools-'));
  try {
    for (const dir of ['a', 'b', 'c']) mkdirSync(join(root, dir));
    for (const [dir, mode] of [['a', 0o644], ['b', 0o755], ['c', 0o755]] as const) {
      writeFileSync(join(root, dir, 'tool'), '#!/bin/sh\n');
      chmodSync(join(root, dir, 'tool'), mode);
    }
    const path = `/nonexistent:${join(root, 'a')}:${join(root, 'b')}:${join(root, 'c')}`;
    assert.equal(findInPath('tool', path), join(root, 'b', 'tool'));
    assert.equal(findInPath('no-such-tool', path), undefined);
    assert.equal(findInPath(join(root, 'c', 'tool'), ''), join(root, 'c', 'tool'));
  } finally {
    rmSync(root, { recursive: true });
  }
});

test('the launch tools: berth-init from the build, nsenter from the daemon\'s PATH; a missing nsenter is named with its package', () => {
  const tools = findLaunchTools('/usr/bin:/bin');
  assert.match(tools.init, /\/dist\/native\/berth-init$/);
  assert.equal(tools.nsenter, '/usr/bin/nsenter');
  assert.throws(() => findLaunchTools('/nonexistent'), (err: unknown) => {
    assert.ok(err instanceof MissingFeatureError);
    assert.match(err.message, /^"nsenter" is not installed/);
    assert.equal(err.hint, 'install it: apt-get install util-linux');
    return true;
  });
});
