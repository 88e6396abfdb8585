import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { signalNumber } from './process.js';

/**
 * A second process in a running container (Docker's exec): it enters the container's
 * network, UTS and mount namespaces through its first process (nsenter -t PID), as
 * `berth exec` does from the CLI.
 *
 * With a TTY it runs on a real pseudo-terminal. Node has no pty of its own, so a small
 * python3 helper (python3 is part of berth's set-up) forks the command on one with
 * pty.fork() and relays: stdin to the terminal, the terminal to stdout, and window sizes
 * arriving as "ROWS COLS" lines on fd 3 to TIOCSWINSZ (which also signals SIGWINCH to the
 * terminal's foreground process group). It exits with the command's code.
 */
const PTY_HELPER = String.raw`
import fcntl, os, pty, select, struct, sys, termios
pid, master = pty.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[1], sys.argv[1:])
    except OSError as e:
        sys.stderr.write('%s: %s\n' % (sys.argv[1], e.strerror)); os._exit(127)
inputs = [0, 3]
control = b''
while True:
    try:
        ready, _, _ = select.select([master] + inputs, [], [])
    except InterruptedError:
        continue
    if master in ready:
        try:
            data = os.read(master, 65536)
        except OSError:
            data = b''
        if not data:
            break
        os.write(1, data)
    if 0 in ready:
        data = os.read(0, 65536)
        if data:
            os.write(master, data)
        else:
            inputs.remove(0)
    if 3 in ready:
        data = os.read(3, 1024)
        if not data:
            inputs.remove(3)
        control += data
        while b'\n' in control:
            line, control = control.split(b'\n', 1)
            rows, cols = (int(x) for x in line.split())
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
_, status = os.waitpid(pid, 0)
os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
`;

export interface ExecSpec {
  /** The container's first process: its namespaces are entered. */
  readonly pid: number;
  /** util-linux's nsenter, by absolute path (launch-tools.ts): `env` is the container's, PATH included. */
  readonly nsenter: string;
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly tty: boolean;
  readonly workingDir?: string;
}

export interface ExecProcess {
  readonly pid: number;
  readonly stdin: Writable;
  /** With a TTY, everything the terminal shows; otherwise the command's stdout. */
  readonly stdout: Readable;
  /** Absent with a TTY (a terminal has one output). */
  readonly stderr?: Readable;
  /** Resolves with the exit code (128+N for signal N; 126/127 when it could not run). */
  readonly exited: Promise<number>;
  /** Sets the terminal's size (TTY only; ignored otherwise). */
  resize(rows: number, cols: number): void;
}

export function startExec(spec: ExecSpec): ExecProcess {
  const enter = [spec.nsenter, '-t', String(spec.pid), '-n', '-u', '-m', ...(spec.workingDir ? [`--wd=${spec.workingDir}`] : []), '--'];
  const argv = spec.tty ? [...enter, 'python3', '-c', PTY_HELPER, ...spec.command] : [...enter, ...spec.command];
  // The helper's own complaints (none unless python3 is missing) go to the daemon's log.
  const child = spawn(argv[0]!, argv.slice(1), { stdio: spec.tty ? ['pipe', 'pipe', 'inherit', 'pipe'] : ['pipe', 'pipe', 'pipe'], env: { ...spec.env } });
  const exited = new Promise<number>((resolve) => {
    child.once('error', () => resolve(127));
    child.once('exit', (code, signal) => resolve(code ?? 128 + signalNumber(signal)));
  });
  const { stdin, stdout, stderr } = child;
  if (!stdin || !stdout || (!spec.tty && !stderr)) throw new Error('exec: the child has no pipes');
  // A client that goes away must not take the daemon with it (EPIPE on a closed stdin).
  stdin.on('error', () => undefined);
  const control = spec.tty ? (child.stdio[3] as Writable) : undefined;
  control?.on('error', () => undefined);
  return {
    pid: child.pid ?? 0,
    stdin,
    stdout,
    ...(spec.tty || !stderr ? {} : { stderr }),
    exited,
    resize(rows, cols) {
      if (control && rows > 0 && cols > 0) control.write(`${rows} ${cols}\n`);
    },
  };
}
