/**
 * Part 10: is the topology page fast with 1,000 containers? The page (web/) is served as
 * the daemon serves it, with a generated topology of N containers on 10 networks behind
 * /api/topology, into Debian's headless Chromium. Measured inside the page: the first
 * picture (fetch, elements, layout, legend) and one update (a container more, as after its
 * start event), p50 and p95 over SAMPLES page loads. Docker and Podman have no such page:
 * there is no side-by-side figure.
 *
 * Run: npm run bench:web   (SAMPLES=10 for more)
 */
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';
import { REPO } from '../test/world/world.js';
import { fmt, percentile, printTable } from './stats.js';

if (process.env.BERTH_SANDBOX !== '1') {
  console.error('bench: run it inside the sandbox: npm run bench:web');
  process.exit(2);
}

const SAMPLES = Number(process.env.SAMPLES ?? 5);
const SIZES = [10, 100, 1000];

function topology(containers: number) {
  const networks = Array.from({ length: 10 }, (_, i) => ({ id: `n${i}`, name: `net${i}`, driver: 'bridge', subnet: `10.${100 + i}.0.0/16`, gateway: `10.${100 + i}.0.1`, internal: i === 9, scope: 'local' }));
  return {
    host: { name: 'bench' },
    networks,
    containers: Array.from({ length: containers }, (_, i) => {
      const n = i % 10;
      const address = `10.${100 + n}.${Math.floor(i / 250)}.${(i % 250) + 2}`;
      return { id: `c${i}`, name: `c${i}`, status: 'running', mode: 'bridge', ports: i % 7 === 0 ? [`${20000 + i}->80/tcp`] : [], interfaces: [{ network: `net${n}`, ifname: 'eth0', address, mac: `02:42:0a:${(100 + n).toString(16)}:00:${(i % 250).toString(16).padStart(2, '0')}`, hostIfname: `veth${i.toString(16).padStart(7, '0')}` }] };
    }),
    remote: [],
    tunnels: [],
  };
}

let current = topology(10);
const assets: Record<string, [string, string]> = {
  '/': ['web/index.html', 'text/html'],
  '/app.js': ['web/app.js', 'text/javascript'],
  '/style.css': ['web/style.css', 'text/css'],
  '/cytoscape.min.js': ['node_modules/cytoscape/dist/cytoscape.min.js', 'text/javascript'],
};
const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (path === '/api/topology') return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(current));
  if (path === '/api/events') return void res.writeHead(200, { 'Content-Type': 'text/event-stream' }).write(': idle\n\n');
  const asset = assets[path];
  if (!asset) return void res.writeHead(404).end();
  readFile(join(REPO, asset[0])).then((body) => res.writeHead(200, { 'Content-Type': asset[1] }).end(body), () => res.writeHead(500).end());
});
await new Promise<void>((resolve) => server.listen(8199, '127.0.0.1', resolve));
const browser = await puppeteer.launch({ executablePath: '/usr/bin/chromium', pipe: true, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
const rows: string[][] = [];
try {
  for (const size of SIZES) {
    const first: number[] = [];
    const update: number[] = [];
    for (let s = 0; s < SAMPLES; s++) {
      current = topology(size);
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 800 });
      const started = Date.now();
      await page.goto('http://127.0.0.1:8199/');
      await page.waitForFunction((n: number) => (window as any).berthTopology?.containers.length === n, {}, size);
      first.push(Date.now() - started);
      const more = topology(size + 1);
      update.push(await page.evaluate((t) => {
        const t0 = performance.now();
        (window as any).render(t);
        return performance.now() - t0;
      }, more));
      await page.close();
    }
    rows.push([String(size), fmt(percentile(first, 50)), fmt(percentile(first, 95)), fmt(percentile(update, 50)), fmt(percentile(update, 95))]);
  }
} finally {
  await browser.close();
  server.close();
}
console.log(`topology page in headless Chromium, ${SAMPLES} page loads per size (ms)`);
printTable(['containers', 'first picture p50', 'p95', 'one container more p50', 'p95'], rows);
