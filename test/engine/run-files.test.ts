import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDir, runFilesDir } from '../../src/engine/context.js';

test('a running container\'s hosts and resolv.conf: its run directory, or beside its logs if an earlier daemon started it', () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-run-files-'));
  const config = { dataRoot: join(root, 'data'), execRoot: join(root, 'exec') };
  try {
    // Never started: where the next start writes them.
    assert.equal(runFilesDir(config, 'c1'), runDir(config, 'c1'));
    // Started by a daemon that kept them in the data root, adopted since.
    const earlier = join(config.dataRoot, 'containers', 'c1');
    mkdirSync(earlier, { recursive: true });
    writeFileSync(join(earlier, 'hosts'), '127.0.0.1\tlocalhost\n');
    assert.equal(runFilesDir(config, 'c1'), earlier);
    // Started again by this one: its run directory.
    mkdirSync(runDir(config, 'c1'), { recursive: true });
    assert.equal(runFilesDir(config, 'c1'), join(config.execRoot, 'containers', 'c1'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
