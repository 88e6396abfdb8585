import { spawn } from 'node:child_process';
import { BerthError, MissingFeatureError } from '../common/errors.js';

export interface ToolResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Debian package that provides each tool berth spawns, for the "not installed" hint. */
const PACKAGE_OF: Record<string, string> = {
  ip: 'iproute2',
  bridge: 'iproute2',
  nft: 'nftables',
  iptables: 'iptables',
  'iptables-restore': 'iptables',
  nsenter: 'util-linux',
  unshare: 'util-linux',
};

/**
 * How long one tool may run. `ip`, `nft` and `iptables-restore` take milliseconds; one
 * that hangs (a lock held elsewhere, a wedged kernel path) would hold the operation queue,
 * and with it every request, for ever. Past this it is killed, and its plan fails and is
 * undone like any failed step.
 */
export const TOOL_TIME_BUDGET_MS = 30_000;

/** Runs a tool with `stdin` piped in; resolves with its exit code (never rejects on a non-zero exit), unless it outlives its budget. */
export function runTool(command: string, args: readonly string[], stdin = '', budgetMs = TOOL_TIME_BUDGET_MS): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new BerthError('kernel', `${command} ${args.join(' ').slice(0, 80)} did not finish within ${budgetMs / 1000} s and was killed`, 'something holds the kernel or a lock it needs; the operation was undone'));
    }, budgetMs);
    child.on('close', () => clearTimeout(timer));
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        const pkg = PACKAGE_OF[command] ?? command;
        reject(new MissingFeatureError(`"${command}" is not installed`, `install it: apt-get install ${pkg}`));
      } else {
        reject(err);
      }
    });
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    // A tool that fails before reading stdin closes the pipe; that failure is reported by its exit code.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}
