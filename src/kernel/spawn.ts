import { spawn } from 'node:child_process';
import { MissingFeatureError } from '../common/errors.js';

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

/** Runs a tool with `stdin` piped in; resolves with its exit code (never rejects on a non-zero exit). */
export function runTool(command: string, args: readonly string[], stdin = ''): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
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
