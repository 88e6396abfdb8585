import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO, run, sandboxSkip, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

/**
 * The README's "for real" blocks, run as pasted, in order, on a fresh host: each command
 * must succeed, except those whose comment starts with "fails" or "refused", which must
 * fail. They use berth's default paths (/run/berth, /var/lib/berth): inside the test
 * sandbox both are the sandbox's own tmpfs.
 */
interface ReadmeCommand {
  readonly line: string;
  readonly mustFail: boolean;
}

async function readmeCommands(): Promise<ReadmeCommand[]> {
  const text = await readFile(join(REPO, 'README.md'), 'utf8');
  const section = text.slice(text.indexOf('Using berth on a machine for real'), text.indexOf('## CLI reference'));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks.flatMap((block) =>
    block.split('\n').flatMap((raw): ReadmeCommand[] => {
      const hash = raw.search(/\s#\s|^\s*#/);
      const command = (hash === -1 ? raw : raw.slice(0, hash)).trim();
      const comment = hash === -1 ? '' : raw.slice(hash).replace(/^\s*#\s*/, '');
      return command === '' ? [] : [{ line: command, mustFail: /^(fails|refused)\b/.test(comment) }];
    }),
  );
}

describe('the README\'s commands work as pasted', { skip: sandboxSkip }, () => {
  let w: World;
  const inHost = (line: string) => run('ip', ['netns', 'exec', w.host, 'bash', '-c', `cd ${REPO} && ${line}`], { timeoutMs: 60_000 });
  before(async () => {
    w = await World.create({ withoutDaemon: true });
  });
  after(async () => {
    // The README's own clean-up, then the daemon it started goes.
    await inHost('bin/berth rm -f $(bin/berth ps -aq); bin/berth network prune -f');
    await inHost('kill $(cat /run/berth/berth.pid) && while [ -e /run/berth/berth.pid ]; do sleep 0.05; done');
    await checkLeaksThenDispose(w);
  });

  test('every command of the "for real" blocks, in order', async () => {
    const commands = await readmeCommands();
    assert.ok(commands.length >= 40, `found only ${commands.length} commands`);
    assert.equal(commands[0]!.line, 'bin/berth daemon -d');
    const failures: string[] = [];
    for (const { line, mustFail } of commands) {
      const r = await inHost(line);
      if ((r.code !== 0) !== mustFail) failures.push(`${line}\n  exit ${r.code}${mustFail ? ' (it must fail)' : ''}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
    }
    assert.deepEqual(failures, []);
  });
});
