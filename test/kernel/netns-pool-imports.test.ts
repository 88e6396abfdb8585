import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/**
 * The packages a bundled script loads: the bare specifiers it and the chunks it imports
 * (relative `./chunk-*.js`, esbuild's shared code) import, Node's own modules aside.
 */
function packagesLoadedBy(script: string): Set<string> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const [, imported, forEffect] of readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\b[^'"]*?from\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']/gm)) {
      const specifier = imported ?? forEffect!;
      if (specifier.startsWith('./')) visit(join(dirname(file), specifier));
      else if (!specifier.startsWith('node:')) packages.add(specifier);
    }
  };
  visit(script);
  return packages;
}

test('the namespace pool\'s thread loads koffi and no other package (netlink\'s 1.6 MB cost it ~0.15 s of CPU at each start)', () => {
  const worker = fileURLToPath(new URL('../../cli/netns-pool-worker.js', import.meta.url));
  assert.deepEqual([...packagesLoadedBy(worker)], ['koffi']);
});

test('the daemon\'s bundle, by contrast, loads netlink (the check above would see it)', () => {
  const main = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
  const lazyChunks = [...readFileSync(main, 'utf8').matchAll(/import\(["'](\.\/[^"']+)["']\)/g)].map(([, chunk]) => chunk!);
  const loaded = new Set<string>();
  for (const chunk of lazyChunks) for (const p of packagesLoadedBy(join(dirname(main), chunk))) loaded.add(p);
  assert.ok(loaded.has('netlink'), `the lazy chunks load ${[...loaded].join(', ')}`);
});
