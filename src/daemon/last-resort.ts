import { inspect } from 'node:util';

/**
 * The daemon's last line of defence: an error nobody awaited must not stop every
 * container's network service. It is logged with its cause chain (so the bug can be found
 * and fixed) and the daemon keeps serving. Code paths must still not rely on this: lint
 * forbids floating promises, and each such log is a bug to fix.
 */
export function installLastResortHandlers(log: (line: string) => void = (line) => console.error(line)): void {
  process.on('unhandledRejection', (reason) => log(`berth: BUG: an unhandled rejection was caught and the daemon keeps running: ${describe(reason)}`));
  process.on('uncaughtException', (err) => log(`berth: BUG: an uncaught exception was caught and the daemon keeps running: ${describe(err)}`));
}

function describe(reason: unknown): string {
  const parts: string[] = [];
  let current: unknown = reason;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    parts.push(current instanceof Error ? (current.stack ?? `${current.name}: ${current.message}`) : inspect(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join('\ncaused by: ');
}
