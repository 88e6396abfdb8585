import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { sandboxSkip, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

/** Sends raw bytes on the daemon's socket; resolves with what came back (or "" when it closed without a word). */
function rawRequest(socket: string, bytes: Buffer | string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(socket);
    let reply = '';
    const done = () => {
      s.destroy();
      resolve(reply);
    };
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      reply += d;
      if (/\r\n\r\n/.test(reply)) done();
    });
    s.on('error', done);
    s.on('close', done);
    s.setTimeout(timeoutMs, done);
    s.end(bytes);
  });
}

/** A small deterministic PRNG, so a failing fuzz case is reproducible from its seed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('the Docker API as clients call it: filters, labels, ping, version, wait', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create();
    await w.berthOk('network', 'create', '--label', 'keep=yes', 'kept');
    await w.berthOk('network', 'create', '--label', 'keep=no', 'gone1');
    await w.berthOk('network', 'create', 'gone2');
    await w.berthOk('network', 'create', '--label', 'keep=yes', 'used');
    await w.berthOk('run', '-d', '--name', 'web_1', '-l', 'tier=web', '-l', 'env=prod', '--network', 'used', '--', 'sleep', '1000');
    await w.berthOk('run', '-d', '--name', 'db_1', '-l', 'tier=db', '--', 'sleep', '1000');
    await w.berthOk('run', '-d', '--name', 'done', '--', 'sh', '-c', 'exit 3');
    await w.berthOk('wait', 'done');
  });
  after(() => checkLeaksThenDispose(w));

  const names = (list: string) => (JSON.parse(list) as { Name?: string; Names?: string[] }[]).map((x) => x.Name ?? x.Names![0]!.slice(1)).sort();

  test('GET /networks filters: name, label, label!, driver, type, dangling; map and list forms', async () => {
    const get = async (filters: unknown) => {
      const r = await w.api('GET', `/networks?filters=${encodeURIComponent(JSON.stringify(filters))}`);
      assert.equal(r.status, 200, r.body);
      return names(r.body);
    };
    assert.deepEqual(await get({ label: { 'keep=yes': true } }), ['kept', 'used']);
    assert.deepEqual(await get({ label: ['keep=yes'] }), ['kept', 'used']);
    assert.deepEqual(await get({ label: { keep: true } }), ['gone1', 'kept', 'used']);
    assert.deepEqual(await get({ 'label!': { 'keep=yes': true }, type: { custom: true } }), ['gone1', 'gone2']);
    assert.deepEqual(await get({ name: { gone: true } }), ['gone1', 'gone2']);
    assert.deepEqual(await get({ driver: { null: true } }), ['none']);
    assert.deepEqual(await get({ type: { builtin: true } }), ['bridge', 'host', 'none']);
    assert.deepEqual(await get({ dangling: { true: true } }), ['gone1', 'gone2', 'kept']);
  });

  test('an unknown filter or value is a 400 that names it, and nothing is removed', async () => {
    for (const [path, message] of [
      ['/networks?filters={"colour":{"red":true}}', "invalid filter 'colour'"],
      ['/networks?filters={"type":{"odd":true}}', "invalid filter 'type=odd'"],
      ['/containers/json?filters={"status":{"sleepy":true}}', "invalid filter 'status=sleepy'"],
      ['/networks?filters=notjson', 'invalid filters'],
    ] as const) {
      const r = await w.api('GET', encodeURI(path));
      assert.equal(r.status, 400, path);
      assert.ok((JSON.parse(r.body) as { message: string }).message.includes(message), r.body);
    }
    const prune = await w.api('POST', `/networks/prune?filters=${encodeURIComponent('{"name":{"gone1":true}}')}`);
    assert.equal(prune.status, 400);
    assert.deepEqual(names((await w.api('GET', '/networks')).body).length, 7);
  });

  test('docker network prune --filter label=keep=yes keeps what the filter does not select (was: data loss)', async () => {
    const r = await w.api('POST', `/networks/prune?filters=${encodeURIComponent('{"label!":{"keep=yes":true}}')}`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual((JSON.parse(r.body) as { NetworksDeleted: string[] }).NetworksDeleted.sort(), ['gone1', 'gone2']);
    assert.deepEqual(names((await w.api('GET', '/networks')).body), ['bridge', 'host', 'kept', 'none', 'used']);
    // until: only networks created before the cut-off go; "kept" is newer than 1 hour.
    const until = await w.api('POST', `/networks/prune?filters=${encodeURIComponent('{"until":{"1h":true}}')}`);
    assert.deepEqual(JSON.parse(until.body), { NetworksDeleted: [] });
    const cli = await w.berth('network', 'prune', '-f', '--filter', 'label=keep=no');
    assert.equal(cli.code, 0);
    assert.match(await w.berthOk('network', 'ls', '--filter', 'label=keep=yes', '--format', '{{.Name}}'), /^kept\nused\n$/);
  });

  test('container labels are stored, shown in Config.Labels and filtered on; ps --filter/--format', async () => {
    const c = (JSON.parse(await w.berthOk('inspect', 'web_1')) as any[])[0];
    assert.deepEqual(c.Config.Labels, { tier: 'web', env: 'prod' });
    assert.equal(await w.berthOk('ps', '--filter', 'label=tier=web', '--format', '{{.Names}} {{.Labels}}'), 'web_1 tier=web,env=prod\n');
    assert.equal(await w.berthOk('ps', '-f', 'label!=tier=web', '--format', '{{.Names}}'), 'db_1\n');
    assert.equal(await w.berthOk('ps', '-f', 'status=exited', '--format', '{{.Names}}'), 'done\n');
    assert.equal(await w.berthOk('ps', '-a', '-f', 'exited=3', '--format', '{{.Names}}'), 'done\n');
    assert.equal(await w.berthOk('ps', '-f', 'network=used', '--format', '{{.Names}}'), 'web_1\n');
    assert.equal(await w.berthOk('ps', '-a', '-f', 'since=web_1', '--format', '{{.Names}}'), 'done\ndb_1\n');
    assert.equal(await w.berthOk('ps', '-a', '-f', 'before=db_1', '-f', 'name=_1', '--format', '{{.Names}}'), 'web_1\n');
    assert.match(await w.berthOk('ps', '--format', 'table {{.Names}}\\t{{.Status}}'), /^NAMES +STATUS\n/);
  });

  test('--label-file and the API\'s Labels', async () => {
    const file = `${w.dir}/labels`;
    await import('node:fs/promises').then((fs) => fs.writeFile(file, '# team labels\nteam=net\n\nowner=ops\n'));
    await w.berthOk('create', '--name', 'labelled', '--label-file', file, '-l', 'owner=dev', '--', 'sleep', '1');
    assert.deepEqual((JSON.parse(await w.berthOk('inspect', 'labelled')) as any[])[0].Config.Labels, { team: 'net', owner: 'dev' });
  });

  test('HEAD /_ping answers 200 with the API version; /version has Docker\'s fields', async () => {
    const head = await rawRequest(w.socket, 'HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(head, /\r\nApi-Version: 1\.43\r\n/i);
    const v = JSON.parse((await w.api('GET', '/v1.43/version')).body) as Record<string, unknown>;
    assert.equal(v.Arch, process.arch === 'x64' ? 'amd64' : process.arch);
    assert.equal(v.Os, 'linux');
    assert.equal(v.MinAPIVersion, '1.24');
    assert.match(String(v.GitCommit), /^([0-9a-f]{12}|unknown)$/);
    assert.match(String(v.GoVersion), /^node v\d+/);
    assert.match(String(v.BuildTime), /^\d{4}-\d{2}-\d{2}T/);
    assert.ok(typeof v.KernelVersion === 'string' && v.KernelVersion !== '');
  });

  test('wait conditions: not-running returns at once for a stopped container, next-exit waits for the next exit, removed for rm', async () => {
    const now = await w.api('POST', '/containers/done/wait?condition=not-running');
    assert.deepEqual(JSON.parse(now.body), { StatusCode: 3, Error: null });
    await w.berthOk('run', '-d', '--name', 'later', '--', 'sleep', '1000');
    await w.berthOk('stop', '-t', '0', 'later');
    let settled = false;
    const next = w.api('POST', '/containers/later/wait?condition=next-exit').then((r) => ((settled = true), r));
    const removed = w.api('POST', '/containers/later/wait?condition=removed');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(settled, false, 'next-exit must not return for the exit that already happened');
    await w.berthOk('start', 'later').catch(() => undefined);
    await w.berthOk('rm', '-f', 'later');
    assert.equal((await next).status, 200);
    assert.equal((await removed).status, 200);
    assert.equal((await w.api('POST', '/containers/done/wait?condition=soon')).status, 400);
  });
});

describe('hostile requests get an answer and never stop the daemon', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create();
  });
  after(() => checkLeaksThenDispose(w));

  const alive = async () => (await w.api('GET', '/_ping')).body === 'OK';

  test('a malformed percent-escape in the path and an absolute-form target with a bad host are 400s', async () => {
    const escape = await w.api('GET', '/containers/%E0%A4%A/json');
    assert.equal(escape.status, 400);
    assert.match(escape.body, /malformed percent-escape/);
    const absolute = await rawRequest(w.socket, 'GET http://[/_ping HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(absolute, /^HTTP\/1\.1 400 /);
    assert.equal(await alive(), true);
  });

  test('a body over the limit is refused with 413 without reading it all; a huge bad name is quoted only in part', async () => {
    const big = Buffer.alloc(6 << 20, 0x61);
    const r = await w.api('POST', '/containers/create', undefined, big);
    assert.equal(r.status, 413);
    const name = 'x'.repeat(3 << 20);
    const bad = await w.api('POST', `/networks/create`, { Name: `-${name}` });
    assert.equal(bad.status, 400);
    assert.ok(bad.body.length < 1000, `error of ${bad.body.length} bytes`);
    assert.equal(await alive(), true);
  });

  test('300 fuzzed request lines, headers and paths: every one answered or closed, the daemon alive after each batch', async () => {
    const seed = 20261201;
    const random = prng(seed);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const junk = () => Buffer.from(Array.from({ length: 1 + Math.floor(random() * 40) }, () => Math.floor(random() * 256))).toString('latin1');
    const methods = ['GET', 'POST', 'DELETE', 'HEAD', 'PUT', 'OPTIONS', 'G\u0000T', junk()];
    const paths = ['/_ping', '/containers/json', '/containers/%/json', '/networks/%ZZ', '/v9.99/version', 'http://[::1/_ping', 'http://%/x', '*', '//', `/containers/${junk()}/json`, '/networks?filters=%7B', `/${'a'.repeat(9000)}`];
    for (let batch = 0; batch < 10; batch++) {
      const requests = Array.from({ length: 30 }, () => {
        const headers = random() < 0.3 ? `X-${junk()}: ${junk()}\r\n` : '';
        const body = random() < 0.3 ? junk() : '';
        return `${pick(methods)} ${pick(paths)} HTTP/1.1\r\nHost: x\r\n${headers}Content-Length: ${body.length}\r\n\r\n${body}`;
      });
      await Promise.all(requests.map((req) => rawRequest(w.socket, Buffer.from(req, 'latin1'))));
      assert.equal(await alive(), true, `daemon down after batch ${batch} (seed ${seed})`);
    }
    assert.doesNotMatch(w.daemonOutput, /BUG: an unhandled/);
  });
});
