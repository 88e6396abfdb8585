import { spawn } from 'node:child_process';
import { mkdir, open, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { dirname } from 'node:path';
import { BerthError } from '../common/errors.js';

/** How long `berth daemon -d` waits for the API to answer (reconcile of many containers takes a while). */
const READY_TIMEOUT_MS = 60_000;
const POLL_MS = 25;

/**
 * `berth daemon --detach`: starts the daemon in the background (its own session, output to
 * `logPath`) and returns once its socket answers /_ping, so the next command in a script or
 * a pasted README block finds it ready. A daemon that stops during start-up is reported
 * with the end of its log and a non-zero exit.
 */
export async function startDetached(daemonArgv: readonly string[], socketPath: string, logPath: string): Promise<number> {
  await mkdir(dirname(logPath), { recursive: true });
  const log = await open(logPath, 'a');
  let exited: string | undefined;
  // The same Node flags as this process (bin/berth's V8 flags).
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'daemon', ...daemonArgv], { detached: true, stdio: ['ignore', log.fd, log.fd] });
  await log.close();
  child.once('exit', (code, signal) => (exited = signal ?? String(code)));
  child.unref();
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      const tail = (await readFile(logPath, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join('\n');
      throw new BerthError('unavailable', `the daemon stopped during start-up (exit ${exited}):\n${tail}`, `its whole log: ${logPath}`);
    }
    if (await pings(socketPath)) {
      console.log(`berth daemon ready (pid ${child.pid ?? '?'}), API on unix://${socketPath}, log in ${logPath}`);
      return 0;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new BerthError('unavailable', `the daemon (pid ${child.pid ?? '?'}) did not answer on unix://${socketPath} within ${READY_TIMEOUT_MS / 1000} s`, `its log: ${logPath}`);
}

/** Whether the API on `socketPath` answers GET /_ping with 200. */
function pings(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
