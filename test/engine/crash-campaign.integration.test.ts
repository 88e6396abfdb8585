import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { eventually, sandboxSkip, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';
import { describeContainers, invariantViolations } from '../world/invariants.js';
import { seededRandom } from '../world/seeded.js';

/**
 * Crash safety, proven by a campaign (part 9): rounds of random operations — run (some
 * publishing a port), rm, network create/rm, connect, disconnect — against a daemon that
 * kills itself with SIGKILL at a random point: after a random number of kernel operations
 * (between two steps of a plan, or after a plan and before its record is written), at a
 * fault point between a kernel change and its record, or killed from outside during a
 * request. After each crash a plain daemon starts on the same roots and the invariants
 * (test/world/invariants.ts) must hold.
 *
 * The sequence of operations and crash points comes from one seed, printed with every
 * failure: BERTH_CAMPAIGN_SEED=N reproduces it (the kills from outside are timed, so those
 * rounds are reproduced in their operations but not to the microsecond).
 * BERTH_CAMPAIGN_ROUNDS=N runs more rounds (the suite runs ROUNDS_IN_SUITE).
 */
const CRASHING_DAEMON = fileURLToPath(new URL('../world/crashing-daemon.js', import.meta.url));
const ROUNDS_IN_SUITE = 8;
const SEED = Number(process.env.BERTH_CAMPAIGN_SEED ?? Math.floor(Math.random() * 2 ** 31));
const ROUNDS = Number(process.env.BERTH_CAMPAIGN_ROUNDS ?? ROUNDS_IN_SUITE);
/** A small web server every container runs: a published port then answers a connect. */
const SERVE = ['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/tmp'];

/** The crashing daemon without a crash point: the plain daemon. */
const PLAIN_DAEMON_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BERTH_TEST_CRASH')));

class Campaign {
  private readonly random: () => number;
  private nextName = 0;
  readonly containers = new Set<string>();
  readonly networks = new Set<string>();
  /** Every name a container had in this campaign: DNS must answer exactly the live ones. */
  readonly everNamed = new Set<string>();

  constructor(
    private readonly w: World,
    seed: number,
  ) {
    this.random = seededRandom(seed);
  }

  int(below: number): number {
    return Math.floor(this.random() * below);
  }

  pick<T>(items: Iterable<T>): T | undefined {
    const all = [...items];
    return all.length === 0 ? undefined : all[this.int(all.length)];
  }

  /** One random operation as berth CLI arguments (it may fail: a clean failure is fine). */
  nextOperation(): string[] {
    const n = this.nextName++;
    const container = this.pick(this.containers);
    const network = this.pick(this.networks);
    switch (this.int(8)) {
      case 0:
      case 1:
      case 2: {
        const name = `c${n}`;
        this.containers.add(name);
        this.everNamed.add(name);
        const on = this.int(3) === 0 || network === undefined ? [] : ['--network', network];
        const publish = this.int(3) === 0 ? ['-p', `${20000 + n}:8080`] : [];
        return ['run', '-d', '--name', name, ...on, ...publish, '--', ...SERVE];
      }
      case 3:
        if (container === undefined) return ['ps'];
        this.containers.delete(container);
        return ['rm', '-f', container];
      case 4:
        if (this.networks.size >= 3) return ['network', 'ls'];
        this.networks.add(`n${n}`);
        return ['network', 'create', `n${n}`];
      case 5:
        if (network === undefined) return ['network', 'ls'];
        this.networks.delete(network);
        return ['network', 'rm', network];
      case 6:
        return network === undefined || container === undefined ? ['ps'] : ['network', 'connect', network, container];
      default:
        return network === undefined || container === undefined ? ['ps'] : ['network', 'disconnect', network, container];
    }
  }

  /** How this round's daemon dies: its environment, and whether the test kills it from outside. */
  nextCrash(): { readonly what: string; readonly env: NodeJS.ProcessEnv; readonly killAfterMs?: number } {
    switch (this.int(4)) {
      case 0:
        return { what: 'a fault point', env: { BERTH_TEST_CRASH_AT: this.pick(['container-launched', 'network-created'])! } };
      case 1: {
        const ms = this.int(300);
        return { what: `SIGKILL from outside ${ms} ms into a request`, env: {}, killAfterMs: ms };
      }
      default: {
        // Sometimes counted from the daemon's start: a crash inside its start's reconcile.
        // (a start's reconcile applies a handful of operations, hence the small count).
        const budget = this.int(4) === 0 ? `start+${1 + this.int(3)}` : `${1 + this.int(40)}`;
        return { what: `after ${budget} kernel operations`, env: { BERTH_TEST_CRASH_AFTER_OPS: budget } };
      }
    }
  }

  /** Forgets containers and networks the daemon does not have (a crash may have lost or kept them). */
  async learnFromDaemon(): Promise<void> {
    const containers = new Set((await this.w.berthOk('ps', '-a', '--format', '{{.Names}}')).split('\n').filter(Boolean));
    const networks = new Set((await this.w.berthOk('network', 'ls', '--filter', 'type=custom', '--format', '{{.Name}}')).split('\n').filter(Boolean));
    this.containers.clear();
    this.networks.clear();
    for (const c of containers) this.containers.add(c);
    for (const n of networks) this.networks.add(n);
  }
}

describe('crash campaign: SIGKILL at random points, invariants after each restart', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create({ daemonEntry: [CRASHING_DAEMON] });
  });
  after(() => checkLeaksThenDispose(w));

  test(`${ROUNDS} rounds (seed ${SEED}; BERTH_CAMPAIGN_SEED=${SEED} reproduces them)`, { timeout: Math.max(600_000, ROUNDS * 30_000) }, async (t) => {
    const campaign = new Campaign(w, SEED);
    const counts = { operations: 0, crashes: 0, checks: 0, crashedAtStart: 0 };
    for (let round = 1; round <= ROUNDS; round++) {
      const crash = campaign.nextCrash();
      const done: string[] = [];
      await w.killDaemon('SIGTERM');
      const refused = await w.startDaemon([], { ...process.env, ...crash.env });
      // A crash point inside the start's own reconcile: the daemon died before it was ready.
      if (refused) counts.crashedAtStart++;
      for (let i = 0; i < 8 && w.daemonRunning; i++) {
        const op = campaign.nextOperation();
        const last = i === 7 && crash.killAfterMs !== undefined;
        const request = w.berth(...op);
        if (last) setTimeout(() => void w.killDaemon('SIGKILL'), crash.killAfterMs);
        const result = await request;
        done.push(`berth ${op.join(' ')} -> ${result.code}`);
        counts.operations++;
        // A failure must be a clean one: a message, not a crash of the CLI.
        assert.ok(result.code === 0 || result.stderr.trim() !== '', `round ${round}: ${done.at(-1)} failed without a message`);
      }
      if (w.daemonRunning) await w.killDaemon('SIGKILL');
      else counts.crashes++;
      const restarted = await w.startDaemon([], PLAIN_DAEMON_ENV);
      assert.equal(restarted, undefined, `round ${round}: the daemon did not start again: ${restarted?.stdout ?? ''}`);
      const problems = await invariantViolations(w, campaign.everNamed);
      counts.checks++;
      if (problems.length > 0) {
        const state = await describeContainers(w);
        assert.deepEqual(problems, [], `round ${round} of seed ${SEED} (BERTH_CAMPAIGN_SEED=${SEED}), crash ${crash.what}, after:\n  ${done.join('\n  ')}\ncontainers:\n  ${state}`);
      }
      await campaign.learnFromDaemon();
    }
    t.diagnostic(`seed ${SEED}: ${ROUNDS} rounds, ${counts.operations} operations, ${counts.crashes} crashes by the daemon itself (${counts.crashedAtStart} in its start's reconcile), invariants checked ${counts.checks} times`);
  });
});

describe('crash safety: containers killed, and all kernel state lost', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create();
    await w.berthOk('network', 'create', 'app');
    await w.berthOk('run', '-d', '--name', 'web', '--network', 'app', '-p', '1180:8080', '--', ...SERVE);
    await w.berthOk('run', '-d', '--name', 'db', '--network', 'app', '--', ...SERVE);
    await w.berthOk('run', '-d', '--name', 'plain', '--', ...SERVE);
  });
  after(() => checkLeaksThenDispose(w));

  test('kill -9 of containers\' processes: each is marked exited with its sandbox gone, the others unharmed', async () => {
    for (const name of ['web', 'plain']) {
      const pid = Number((await w.berthOk('inspect', '-f', '{{.State.Pid}}', name)).trim());
      assert.ok(pid > 1, `${name} runs as process ${pid}`);
      process.kill(-pid, 'SIGKILL');
    }
    assert.ok(await eventually(async () => (await w.berthOk('ps', '--format', '{{.Names}}')).trim() === 'db', 5000), 'web and plain are not running any more');
    assert.deepEqual(await invariantViolations(w, new Set(['web', 'db', 'plain'])), []);
    assert.equal((await w.berthOk('inspect', '-f', '{{.State.ExitCode}}', 'web')).trim(), '137');
  });

  test('a reboot-like loss of all kernel state, records kept: containers are marked exited, never half, and start again', async () => {
    await w.loseKernelState();
    assert.equal(existsSync(`/run/netns/${w.host}`), true);
    assert.equal(await w.startDaemon(), undefined);
    assert.deepEqual(await invariantViolations(w, new Set(['web', 'db', 'plain'])), []);
    assert.equal((await w.berthOk('ps', '-q')).trim(), '', 'no container claims to run');
    await w.berthOk('start', 'web', 'db');
    assert.deepEqual(await invariantViolations(w, new Set(['web', 'db', 'plain'])), []);
    const ping = await w.berth('exec', 'web', 'ping', '-c', '1', '-W', '1', 'db');
    assert.equal(ping.code, 0, `web reaches db by name: ${ping.stdout}${ping.stderr}`);
  });
});
