import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { hostLinkExists, netnsExists } from '../../src/kernel/read.js';
import { hostLinkPresence } from '../../src/kernel/view.js';
import { sandboxSkip } from '../world/world.js';

/**
 * What network create, rm and disconnect plan with: whether a host link or a namespace
 * exists, asked of the kernel by name (not read from a list of every link). Checked against
 * links and a namespace this test makes and removes in the sandbox.
 */
const LINK = 'bpres0';
const NETNS = 'berth-presence';

describe('link and namespace presence by name', { skip: sandboxSkip }, () => {
  before(() => {
    spawnSync('ip', ['link', 'add', LINK, 'type', 'bridge']);
    spawnSync('ip', ['netns', 'add', NETNS]);
  });
  after(() => {
    spawnSync('ip', ['link', 'del', LINK]);
    spawnSync('ip', ['netns', 'delete', NETNS]);
  });

  test('a link that exists is found; one that does not, or a name too long for any link, is not', () => {
    assert.equal(hostLinkExists(LINK), true);
    assert.equal(hostLinkExists('lo'), true);
    assert.equal(hostLinkExists('bpres1'), false);
    assert.equal(hostLinkExists('a-name-of-sixteen'), false);
    assert.equal(hostLinkPresence().links.has(LINK), true);
  });

  test('a link the kernel renamed is found by its new name only; one deleted is gone at once', () => {
    spawnSync('ip', ['link', 'add', 'bpres2', 'type', 'bridge']);
    assert.equal(hostLinkExists('bpres2'), true);
    spawnSync('ip', ['link', 'set', 'dev', 'bpres2', 'name', 'bpres3']);
    assert.equal(hostLinkExists('bpres2'), false);
    assert.equal(hostLinkExists('bpres3'), true);
    spawnSync('ip', ['link', 'del', 'bpres3']);
    assert.equal(hostLinkExists('bpres3'), false);
  });

  test('a link inside another namespace is not a host link', () => {
    spawnSync('ip', ['-n', NETNS, 'link', 'add', 'bpres4', 'type', 'bridge']);
    assert.equal(spawnSync('ip', ['-n', NETNS, 'link', 'show', 'bpres4']).status, 0);
    assert.equal(hostLinkExists('bpres4'), false);
  });

  test('a pinned namespace exists; an unknown one does not', () => {
    assert.equal(netnsExists(NETNS), true);
    assert.equal(netnsExists('berth-presence-none'), false);
  });
});
