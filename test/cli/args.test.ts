import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boolFlag, flag, flagList, parseArgs } from '../../src/cli/args.js';
import { InvalidArgumentError } from '../../src/common/errors.js';
import { applyFormat } from '../../src/cli/format.js';

const specs = {
  detach: { short: 'd', value: false },
  rm: { value: false },
  name: { value: true },
  env: { short: 'e', value: true, repeat: true },
} as const;

test('docker-style flags, repeats and the command after --', () => {
  const p = parseArgs('run', ['-d', '--name=a1', '-e', 'A=1', '-eB=2', '--rm', '--', 'sleep', '-x', '1000'], specs);
  assert.equal(boolFlag(p, 'detach'), true);
  assert.equal(boolFlag(p, 'rm'), true);
  assert.equal(flag(p, 'name'), 'a1');
  assert.deepEqual(flagList(p, 'env'), ['A=1', 'B=2']);
  assert.deepEqual(p.rest, ['sleep', '-x', '1000']);
});

test('unknown flags and missing values are errors that name the flag', () => {
  assert.throws(() => parseArgs('run', ['--bogus'], specs), (e: unknown) => e instanceof InvalidArgumentError && e.message === 'unknown flag: --bogus');
  assert.throws(() => parseArgs('run', ['--name'], specs), /flag needs an argument: --name/);
});

test('stopAtPositional leaves the command\'s own flags alone', () => {
  const p = parseArgs('exec', ['a1', 'ping', '-c1', '172.17.0.3'], { env: { short: 'e', value: true } }, { stopAtPositional: true });
  assert.deepEqual(p.positionals, ['a1', 'ping', '-c1', '172.17.0.3']);
});

test('--format supports field paths and json', () => {
  const v = { NetworkSettings: { Networks: { bridge: { IPAddress: '172.17.0.2' } } }, Name: '/a1' };
  assert.equal(applyFormat('{{.Name}} {{.NetworkSettings.Networks.bridge.IPAddress}}', v), '/a1 172.17.0.2');
  assert.equal(applyFormat('{{json .NetworkSettings.Networks}}', v), '{"bridge":{"IPAddress":"172.17.0.2"}}');
  assert.throws(() => applyFormat('{{range .X}}', v), /unsupported template action/);
});
