import assert from 'node:assert/strict';
import { leftovers, type World } from './world.js';

/**
 * The end of every integration suite. First berth itself removes everything (rm -f every
 * container, rm every user-defined network), then the kernel is checked for what berth
 * should have removed and did not — namespaces, veths, bridges, container processes —
 * and only then is the world torn down (which deletes whatever is left by force, so a
 * check after it could never fail). Last, the sandbox must hold nothing of the worlds.
 */
export async function checkLeaksThenDispose(...worlds: (World | undefined)[]): Promise<void> {
  const leaks: string[] = [];
  for (const w of worlds) {
    if (!w) continue;
    try {
      leaks.push(...(await w.leaksAfterRemovingEverything()));
    } finally {
      await w.dispose();
    }
  }
  leaks.push(...(await leftovers()));
  assert.deepEqual(leaks, []);
}
