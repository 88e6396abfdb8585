import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountTable, resolveExecutable, signalNumber } from '../../src/kernel/process.js';
import { hiddenFromContainers } from '../../src/daemon/daemon.js';

const NOTHING_HIDDEN = { directories: [], files: [] };

test('a container\'s mount table: its hosts and resolv.conf, a fresh sysfs unless it is in host mode; blanks in paths escaped', () => {
  assert.equal(
    mountTable({ hostsFile: '/var/lib/my data/hosts', resolvConfFile: '/d/resolv.conf', netns: 'berth-abc', hidden: NOTHING_HIDDEN }),
    '/var/lib/my\\040data/hosts /etc/hosts none bind 0 0\n/d/resolv.conf /etc/resolv.conf none bind 0 0\nberth-sysfs /sys sysfs ro,nosuid,nodev,noexec 0 0\n',
  );
  assert.doesNotMatch(mountTable({ hostsFile: '/d/hosts', resolvConfFile: '/d/resolv.conf', netns: '', hidden: NOTHING_HIDDEN }), /sysfs/);
});

test('berth\'s directories are covered by empty read-only tmpfs and an outside socket by /dev/null, after the binds from them', () => {
  const table = mountTable({ hostsFile: '/var/lib/berth/c/hosts', resolvConfFile: '/var/lib/berth/c/resolv.conf', netns: 'berth-abc', hidden: { directories: ['/var/lib/berth', '/run/berth'], files: ['/run/my.sock'] } });
  assert.deepEqual(table.trim().split('\n').slice(3), [
    'berth-hidden-0 /var/lib/berth tmpfs ro,nosuid,nodev,noexec,size=4k,mode=000 0 0',
    'berth-hidden-1 /run/berth tmpfs ro,nosuid,nodev,noexec,size=4k,mode=000 0 0',
    '/dev/null /run/my.sock none bind 0 0',
  ]);
});

test('what is hidden: the roots and the plugin directory, the socket only when outside them, nothing twice', () => {
  assert.deepEqual(hiddenFromContainers({ dataRoot: '/var/lib/berth', execRoot: '/run/berth', socketPath: '/run/berth/berth.sock' }), { directories: ['/var/lib/berth', '/run/berth'], files: [] });
  assert.deepEqual(hiddenFromContainers({ dataRoot: '/srv/b', execRoot: '/srv/b/exec', socketPath: '/run/b.sock', dockerPluginDir: '/run/docker/plugins' }), { directories: ['/srv/b', '/run/docker/plugins'], files: ['/run/b.sock'] });
});

test('every signal has its number for 128+N exit codes, not just four', () => {
  assert.deepEqual(['SIGQUIT', 'SIGABRT', 'SIGSEGV', 'SIGKILL', 'SIGTERM', 'SIGUSR1'].map((s) => signalNumber(s as NodeJS.Signals)), [3, 6, 11, 9, 15, 10]);
  assert.equal(signalNumber(null), 0);
});

test('a command is found as a shell finds it: the first executable in $PATH order, or the path given', () => {
  assert.equal(resolveExecutable('sh', '/nonexistent:/usr/bin:/bin'), '/usr/bin/sh');
  assert.equal(resolveExecutable('sh', '/bin:/usr/bin'), '/bin/sh');
  assert.equal(resolveExecutable('/bin/sh', ''), '/bin/sh');
  // A file that exists but is not executable is passed over, as by a shell.
  const dir = mkdtempSync(join(tmpdir(), 'berth-resolve-'));
  try {
    writeFileSync(join(dir, 'sh'), 'not a program\n', { mode: 0o644 });
    assert.equal(resolveExecutable('sh', `${dir}:/bin`), '/bin/sh');
    assert.throws(() => resolveExecutable('sh', dir), /cannot run "sh": executable file not found in \$PATH/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => resolveExecutable('no-such-binary-xyz', '/usr/bin:/bin'), /cannot run "no-such-binary-xyz"/);
});

test('a command found is remembered (the start looks it up again); one not found is looked for again', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-resolve-'));
  try {
    assert.throws(() => resolveExecutable('late', dir), /cannot run "late"/);
    writeFileSync(join(dir, 'late'), '#!/bin/sh\n', { mode: 0o755 });
    assert.equal(resolveExecutable('late', dir), join(dir, 'late'));
    rmSync(join(dir, 'late'));
    assert.equal(resolveExecutable('late', dir), join(dir, 'late'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
