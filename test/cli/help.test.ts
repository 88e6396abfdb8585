import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BERTH_BIN, run } from '../world/world.js';

/**
 * The CLI as a person meets it first: --help on every command, and exit code 2 for every
 * command line that does not parse. No daemon is needed (and none is asked: a socket that
 * does not exist would turn any request into exit 1).
 */
const berth = (...args: string[]) => run(process.execPath, [BERTH_BIN, '-H', 'unix:///nonexistent/berth.sock', ...args]);

const COMMANDS = [
  'run', 'create', 'ps', 'inspect', 'exec', 'logs', 'stop', 'start', 'wait', 'rm', 'port', 'daemon', 'network',
  'network create', 'network ls', 'network inspect', 'network rm', 'network prune', 'network connect', 'network disconnect',
  'system', 'system reconcile', 'explain', 'trace',
];

test('every command and network subcommand answers --help on stdout with its usage, exit 0', async () => {
  for (const command of COMMANDS) {
    const r = await berth(...command.split(' '), '--help');
    assert.equal(r.code, 0, `${command}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^Usage: berth ${command}\\b`), command);
  }
  const top = await berth('--help');
  assert.equal(top.code, 0);
  assert.match(top.stdout, /^Usage: berth \[-H unix:\/\/\/path\] COMMAND/);
});

test('a command line that does not parse exits 2 with what was wrong and where help is', async () => {
  const cases: [string[], RegExp][] = [
    [['network', 'frob'], /unknown network command "frob"/],
    [['network'], /"berth network" requires a command/],
    [['exec', 'c'], /"berth exec" requires a container and a command/],
    [['run', '-d'], /"berth run" requires a command/],
    [['ps', '--bogus'], /unknown flag: --bogus/],
    [['ps', 'extra'], /"berth ps" accepts no arguments/],
    [['rm'], /"berth rm" requires at least 1 container/],
    [['logs', 'a', 'b'], /"berth logs" requires exactly 1 container/],
    [['stop', '-t', 'soon', 'c'], /invalid --time "soon"/],
    [['network', 'connect', 'n'], /"berth network connect" requires exactly 1 network and 1 container/],
    [['ps', '--filter', 'nokey'], /bad format of filter "nokey": expected KEY=VALUE/],
    [['frob'], /unknown command "frob"/],
    [['explain'], /"berth explain" requires an operation/],
    [['explain', 'frob'], /cannot explain "frob" \(operations: run, create/],
    [['explain', 'container'], /"berth explain container" takes exactly one CONTAINER/],
    [['trace', 'a'], /"berth trace" requires exactly 2 arguments: SRC and DST/],
    [['trace', '--probe', 'a', 'b', 'c'], /"berth trace" requires exactly 2 arguments/],
  ];
  for (const [args, message] of cases) {
    const r = await berth(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.match(r.stderr, /^Hint: see 'berth /m, args.join(' '));
  }
});

test('a --repair-interval out of range is refused before the daemon starts, naming what is accepted', async () => {
  for (const value of ['50', 'soon', '-1']) {
    const r = await berth('daemon', '--repair-interval', value);
    assert.equal(r.code, 1, `${value}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`invalid --repair-interval "${value}"`));
    assert.match(r.stderr, /milliseconds from 100 to 3600000, or 0/);
  }
});

test('an unreachable daemon is an error (exit 1), not a usage error', async () => {
  const r = await berth('ps');
  assert.equal(r.code, 1);
});
