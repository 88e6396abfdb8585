import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boolFlag, flag, flagList, HelpRequested, parseArgs, UsageError } from '../../src/common/args.js';
import { InvalidArgumentError } from '../../src/common/errors.js';
import { applyFormat } from '../../src/cli/format.js';

const specs = {
  detach: { short: 'd', value: false },
  rm: { value: false },
  name: { value: true },
  env: { short: 'e', value: true, repeat: true },
} as const;

const RUN = { name: 'run', usage: 'Usage: berth run [OPTIONS] -- COMMAND' };
const EXEC = { name: 'exec', usage: 'Usage: berth exec CONTAINER COMMAND' };

test('docker-style flags, repeats and the command after --', () => {
  const p = parseArgs(RUN, ['-d', '--name=a1', '-e', 'A=1', '-eB=2', '--rm', '--', 'sleep', '-x', '1000'], specs);
  assert.equal(boolFlag(p, 'detach'), true);
  assert.equal(boolFlag(p, 'rm'), true);
  assert.equal(flag(p, 'name'), 'a1');
  assert.deepEqual(flagList(p, 'env'), ['A=1', 'B=2']);
  assert.deepEqual(p.rest, ['sleep', '-x', '1000']);
});

test('unknown flags and missing values are errors that name the flag', () => {
  assert.throws(() => parseArgs(RUN, ['--bogus'], specs), (e: unknown) => e instanceof InvalidArgumentError && e.message === 'unknown flag: --bogus');
  assert.throws(() => parseArgs(RUN, ['--name'], specs), /flag needs an argument: --name/);
});

test('stopAtPositional leaves the command\'s own flags alone', () => {
  const p = parseArgs(EXEC, ['a1', 'ping', '-c1', '172.17.0.3'], { env: { short: 'e', value: true } }, { stopAtPositional: true });
  assert.deepEqual(p.positionals, ['a1', 'ping', '-c1', '172.17.0.3']);
});

test('--format supports field paths and json', () => {
  const v = { NetworkSettings: { Networks: { bridge: { IPAddress: '172.17.0.2' } } }, Name: '/a1' };
  assert.equal(applyFormat('{{.Name}} {{.NetworkSettings.Networks.bridge.IPAddress}}', v), '/a1 172.17.0.2');
  assert.equal(applyFormat('{{json .NetworkSettings.Networks}}', v), '{"bridge":{"IPAddress":"172.17.0.2"}}');
  assert.throws(() => applyFormat('{{range .X}}', v), /unsupported template action/);
});

test('--help anywhere among the flags asks for the usage text; after "--" or the command it belongs to the command', () => {
  assert.throws(() => parseArgs(RUN, ['-d', '--help'], specs), (e: unknown) => e instanceof HelpRequested && e.usage === RUN.usage);
  assert.equal(parseArgs(RUN, ['--', 'grep', '--help'], specs).rest?.join(' '), 'grep --help');
  assert.deepEqual(parseArgs(EXEC, ['c', 'ls', '--help'], {}, { stopAtPositional: true }).positionals, ['c', 'ls', '--help']);
});

test('a bad command line is a UsageError (exit 2) that points at the command\'s help', () => {
  assert.throws(() => parseArgs(RUN, ['--bogus'], specs), (e: unknown) => e instanceof UsageError && e.hint?.startsWith("see 'berth run --help'") === true);
});

test('stopAtPositional keeps a "--" after the first positional for the command (berth run -- CMD)', () => {
  const p = parseArgs({ name: '', usage: '' }, ['run', '--', 'echo', 'hi'], { host: { short: 'H', value: true } }, { stopAtPositional: true });
  assert.deepEqual(p.positionals, ['run', '--', 'echo', 'hi']);
});
