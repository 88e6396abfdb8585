import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

/**
 * Compares `actual` with test/golden/<name>. Run with UPDATE_GOLDEN=1 to rewrite the file
 * deliberately (and review the diff in git).
 */
export function assertGolden(name: string, actual: string): void {
  // Compiled tests live in dist/test/...; golden files stay in the source tree.
  const path = fileURLToPath(new URL(`../../test/golden/${name}`, import.meta.url));
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, actual);
  assert.equal(actual, readFileSync(path, 'utf8'), `golden file test/golden/${name} differs (UPDATE_GOLDEN=1 rewrites it)`);
}
