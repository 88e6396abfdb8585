import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runTool } from '../../src/kernel/spawn.js';

test('a tool that outlives its time budget is killed and its step fails, naming the budget', async () => {
  await assert.rejects(runTool('sleep', ['5'], '', 100), /sleep 5 did not finish within 0\.1 s and was killed/);
  assert.equal((await runTool('sh', ['-c', 'exit 3'], '', 5000)).code, 3, 'within it, the exit code as before');
});
