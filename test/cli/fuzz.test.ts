import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseCreateContainer } from '../../src/api/requests.js';
import type { ApiClient } from '../../src/cli/client.js';
import { createCommand } from '../../src/cli/commands/run.js';
import { HelpRequested } from '../../src/common/args.js';
import { BerthError } from '../../src/common/errors.js';

/**
 * The CLI's parser under generated argv (part 9): `berth create` with random mixes of its
 * flags, values that are wrong (ports 0 and 65536, ranges, unicode, path characters, `=`
 * forms, missing values) and stray tokens. Each must end in a BerthError with a message
 * (a usage error or invalid input), or in a request body that the API's own parser then
 * accepts or refuses with a BerthError: never a TypeError or another crash.
 * BERTH_FUZZ_SEED=N reproduces a run.
 */
const SEED = Number(process.env.BERTH_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

const FLAGS = ['--name', '-p', '--publish', '--network', '--net', '--ip', '--mac-address', '--network-alias', '--alias', '-e', '--env', '--dns', '--dns-search', '--dns-option', '--add-host', '--link', '-l', '--label', '-h', '--hostname', '--expose', '--rm', '-P', '-d', '--dry-run', '--', '-', '--nope', '-pz'];
const VALUES = ['0', '65536', '1-65535:1-65535', '80', '1180:5000', '127.0.0.1::53', '::80', '80/sctp', '80/xyz', 'a:b:c:d', '..', '../x', 'ä', 'x'.repeat(300), '', '=', 'k=v', '1.2.3.4', '300.1.1.1', '02:42:ac:11:00:02', 'zz', 'host', 'container:x', 'none', 'h:1.2.3.4', 'n:a'];
const token = fc.oneof(fc.constantFrom(...FLAGS), fc.constantFrom(...VALUES), fc.string({ maxLength: 12 }), fc.constantFrom(...FLAGS).chain((f) => fc.constantFrom(...VALUES).map((v) => `${f}=${v}`)));

test(`10,000 generated argv for berth create end in a request or a BerthError, never a crash (seed ${SEED})`, async () => {
  const last: { sent?: { body: unknown; query: string } } = {};
  const client = {
    call: (_method: string, path: string, body?: unknown) => {
      last.sent = { body, query: new URL(path, 'http://berth').searchParams.get('name') ?? '' };
      return Promise.resolve({ Id: 'f'.repeat(64), Warnings: [] });
    },
  } as unknown as ApiClient;
  const log = console.log;
  console.log = () => undefined;
  const outcomes = { refusedByCli: 0, refusedByApi: 0, accepted: 0 };
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(token, { maxLength: 8 }), async (argv) => {
        last.sent = undefined;
        try {
          await createCommand(client, argv);
        } catch (err) {
          if (err instanceof HelpRequested) return;
          assert.ok(err instanceof BerthError && err.message.length > 0, `berth create ${JSON.stringify(argv)} threw ${String(err)}`);
          outcomes.refusedByCli++;
          return;
        }
        const sent = last.sent as { body: unknown; query: string } | undefined;
        assert.ok(sent, 'a request was sent');
        try {
          parseCreateContainer(sent.body, sent.query);
          outcomes.accepted++;
        } catch (err) {
          assert.ok(err instanceof BerthError, `the API's parser threw ${String(err)} for ${JSON.stringify(argv)}`);
          outcomes.refusedByApi++;
        }
      }),
      { numRuns: 10_000, seed: SEED },
    );
  } finally {
    console.log = log;
  }
  // Both ends of the parser were reached.
  assert.ok(outcomes.refusedByCli > 0 && outcomes.accepted > 0, JSON.stringify(outcomes));
});
