import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findLaunchTools } from '../../src/kernel/launch-tools.js';
import { openMountTemplate } from '../../src/kernel/mount-template.js';
import { launchContainer } from '../../src/kernel/process.js';
import { run, sandboxSkip } from '../world/world.js';

/**
 * A container's process gets its own copy of the mount template's descriptor: a daemon that
 * closes its own, or dies, right after the spawn does not fail the start it launched (CI once
 * saw a daemon killed at that moment leave no process: `nsenter` had not yet opened the
 * daemon's descriptor through /proc). Here the launch's berth-init is a script that waits
 * 300 ms before it runs the real one, and the launcher closes its descriptor at once.
 * The command inherits none of the launch's descriptors: only stdin, stdout and stderr. It is
 * static busybox's sleep: a dynamically linked command holds its libraries open for a moment
 * after its exec, while its loader maps them (CI saw coreutils' sleep with libc.so.6 as fd 3).
 */
test('a launched container starts after its launcher closed the template; its command holds only fds 0-2', { skip: sandboxSkip }, async () => {
  const dir = mkdtempSync('/tmp/berth-launch-test-');
  try {
    writeFileSync(join(dir, 'init'), `#!/bin/sh\nsleep 0.3\nexec ${findLaunchTools().init} "$@"\n`);
    chmodSync(join(dir, 'init'), 0o755);
    writeFileSync(join(dir, 'hosts'), '127.0.0.1\tlocalhost\n');
    writeFileSync(join(dir, 'resolv.conf'), 'nameserver 192.0.2.53\n');
    const template = new URL('../../src/kernel/mount-template.js', import.meta.url).href;
    const processes = new URL('../../src/kernel/process.js', import.meta.url).href;
    const closeOnExec = new URL('../../src/kernel/close-on-exec.js', import.meta.url).href;
    const launchTools = new URL('../../src/kernel/launch-tools.js', import.meta.url).href;
    const script = `
      import { readdirSync, readFileSync } from 'node:fs';
      import { openMountTemplate } from '${template}';
      import { launchContainer, signalContainer } from '${processes}';
      import { closeOnExecAll } from '${closeOnExec}';
      import { findLaunchTools } from '${launchTools}';
      // As the daemon does first: what this process was started with is not the container's.
      closeOnExecAll();
      const dir = ${JSON.stringify(dir)};
      const t = await openMountTemplate();
      const launched = await launchContainer({
        netns: '', mountTemplate: t.fd, tools: { ...findLaunchTools(), init: dir + '/init' }, hostname: 'launched', hostsFile: dir + '/hosts', resolvConfFile: dir + '/resolv.conf',
        command: ['busybox', 'sleep', '30'], env: [], stdoutPath: dir + '/out', stderrPath: dir + '/err', exitCodePath: dir + '/exit',
        mountTablePath: dir + '/mounts', hidden: { directories: [], files: [] },
      });
      t.close();
      try {
        await launched.setUp;
        // berth-init reports before it forks the command, and its child holds berth-init's
        // descriptors until it has closed them and exec'd: look for the command itself a while (up to 2 s).
        const children = () => readFileSync('/proc/' + launched.pid + '/task/' + launched.pid + '/children', 'utf8').trim().split(' ').filter(Boolean);
        const isCommand = (pid) => readFileSync('/proc/' + pid + '/cmdline', 'utf8').startsWith('busybox\\0sleep\\0');
        let command;
        for (let i = 0; i < 200 && command === undefined; i++) {
          command = children().find(isCommand);
          if (command === undefined) await new Promise((r) => setTimeout(r, 10));
        }
        console.log(command === undefined ? 'the command never ran' : readdirSync('/proc/' + command + '/fd').sort().join(' '));
      } catch (err) {
        console.log('failed: ' + err.message);
      } finally {
        signalContainer(launched.pid, 'SIGKILL');
      }`;
    const r = await run(process.execPath, ['--input-type=module', '-e', script]);
    assert.equal(r.code, 0, `the launcher ended with ${r.code}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), '0 1 2');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * berth-init runs the command in a vfork'd child, which must not touch stdio: when the exec
 * fails, berth-init itself says why on the container's stderr and records Docker's codes
 * (127: not found, 126: found but not runnable).
 */
test('a command that cannot run: exit code 127 or 126, and why on the container stderr', { skip: sandboxSkip }, async () => {
  const dir = mkdtempSync('/tmp/berth-launch-test-');
  const template = await openMountTemplate();
  try {
    writeFileSync(join(dir, 'hosts'), '127.0.0.1\tlocalhost\n');
    writeFileSync(join(dir, 'resolv.conf'), 'nameserver 192.0.2.53\n');
    writeFileSync(join(dir, 'not-runnable'), 'data\n', { mode: 0o644 });
    const cases = [
      { name: 'missing', command: [join(dir, 'missing')], code: 127, said: `berth-init: ${join(dir, 'missing')}: No such file or directory` },
      { name: 'plain', command: [join(dir, 'not-runnable')], code: 126, said: `berth-init: ${join(dir, 'not-runnable')}: Permission denied` },
    ];
    for (const c of cases) {
      const own = join(dir, c.name);
      mkdirSync(`${own}.d`);
      const launched = await launchContainer({
        netns: '', mountTemplate: template.fd, tools: findLaunchTools(), hostname: c.name, hostsFile: join(dir, 'hosts'), resolvConfFile: join(dir, 'resolv.conf'),
        command: c.command, env: [], stdoutPath: `${own}.d/out`, stderrPath: `${own}.d/err`, exitCodePath: `${own}.d/exit`, mountTablePath: `${own}.d/mounts`, hidden: { directories: [], files: [] },
      });
      await launched.setUp;
      for (let i = 0; i < 200 && !existsSync(`${own}.d/exit`); i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(readFileSync(`${own}.d/exit`, 'utf8'), `${c.code}\n`, c.name);
      assert.equal(readFileSync(`${own}.d/err`, 'utf8'), `${c.said}\n`, c.name);
    }
  } finally {
    template.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
