import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mountTable, signalNumber } from '../../src/kernel/process.js';

test('a container\'s mount table: its hosts and resolv.conf, a fresh sysfs unless it is in host mode; blanks in paths escaped', () => {
  assert.equal(
    mountTable({ hostsFile: '/var/lib/my data/hosts', resolvConfFile: '/d/resolv.conf', netns: 'berth-abc' }),
    '/var/lib/my\\040data/hosts /etc/hosts none bind 0 0\n/d/resolv.conf /etc/resolv.conf none bind 0 0\nberth-sysfs /sys sysfs ro,nosuid,nodev,noexec 0 0\n',
  );
  assert.doesNotMatch(mountTable({ hostsFile: '/d/hosts', resolvConfFile: '/d/resolv.conf', netns: '' }), /sysfs/);
});

test('every signal has its number for 128+N exit codes, not just four', () => {
  assert.deepEqual(['SIGQUIT', 'SIGABRT', 'SIGSEGV', 'SIGKILL', 'SIGTERM', 'SIGUSR1'].map((s) => signalNumber(s as NodeJS.Signals)), [3, 6, 11, 9, 15, 10]);
  assert.equal(signalNumber(null), 0);
});
