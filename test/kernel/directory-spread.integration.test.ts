import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { spreadSubdirectories } from '../../src/kernel/directory-spread.js';
import { runTool } from '../../src/kernel/spawn.js';
import { sandboxSkip } from '../world/world.js';

/** The filesystem type `stat -f` names for a path ("ext2/ext3" for any ext4, "tmpfs", ...). */
async function filesystemOf(path: string): Promise<string> {
  const r = await runTool('stat', ['-f', '-c', '%T', path]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

/** The flags lsattr(1) prints for a directory itself (e2fsprogs, read independently of the code under test). */
async function attributesOf(dir: string): Promise<string> {
  const r = await runTool('lsattr', ['-d', dir]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split(/\s+/)[0]!;
}

describe('spreading the data root\'s containers\' directories (chattr +T)', { skip: sandboxSkip }, () => {
  // /tmp is the machine's own disk, as the data root is: on this project's VMs, ext4.
  let dir: string;
  before(async () => {
    dir = await mkdtemp('/tmp/berth-spread-test-');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('on ext4, the directory gets the top-directory flag, and asking again keeps it', async (t) => {
    const fs = await filesystemOf(dir);
    if (fs !== 'ext2/ext3') return t.skip(`/tmp is ${fs} here, not ext4: the flag is ext4's`);
    const containers = join(dir, 'containers');
    await mkdir(containers);
    assert.doesNotMatch(await attributesOf(containers), /T/, 'a new directory has no T flag of its own');
    assert.deepEqual(spreadSubdirectories(containers), { spread: true });
    assert.match(await attributesOf(containers), /T/);
    assert.deepEqual(spreadSubdirectories(containers), { spread: true });
    assert.match(await attributesOf(containers), /T/);
  });

  test('on a filesystem without the flag (tmpfs), it says why and changes nothing', async () => {
    const tmpfs = join(dir, 'tmpfs');
    await mkdir(tmpfs);
    // The sandbox's own mount namespace: the machine's mounts are untouched.
    const mounted = await runTool('mount', ['-t', 'tmpfs', 'berth-spread-test', tmpfs]);
    assert.equal(mounted.code, 0, mounted.stderr);
    try {
      const result = spreadSubdirectories(tmpfs);
      assert.equal(result.spread, false);
      assert.match(result.spread ? '' : result.why, /refused the top-directory flag \(E(OPNOT|NOT)SUPP?\)|keeps no inode flags/);
    } finally {
      await runTool('umount', [tmpfs]);
    }
  });

  test('a directory that is not there is said to be missing', () => {
    const result = spreadSubdirectories(join(dir, 'nowhere'));
    assert.deepEqual(result, { spread: false, why: `cannot open ${join(dir, 'nowhere')}: ENOENT` });
  });
});
