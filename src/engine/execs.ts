import { ConflictError, NotFoundError, quotePrefix } from '../common/errors.js';
import { newId } from '../common/ids.js';
import { startExec, type ExecProcess } from '../kernel/container-exec.js';
import { envObject } from '../kernel/process.js';
import { pendingReaps, reapsSettled } from '../kernel/reaper.js';
import type { ContainerTable } from './containers.js';

/** Docker's ExecConfig, typed: what `docker exec` asks for. */
export interface ExecConfig {
  readonly command: readonly string[];
  readonly env: readonly string[];
  readonly tty: boolean;
  readonly attachStdin: boolean;
  readonly attachStdout: boolean;
  readonly attachStderr: boolean;
  readonly workingDir?: string;
}

export interface ExecSession {
  readonly id: string;
  readonly containerId: string;
  readonly config: ExecConfig;
  process?: ExecProcess;
  /** Null until it exited. */
  exitCode: number | null;
}

/** How long a finished exec stays inspectable (Docker keeps them until the container goes; clients ask once, right after). */
const FINISHED_KEPT_MS = 5 * 60_000;

/**
 * Exec sessions: created, started once, inspected for their exit code. They live in the
 * daemon's memory, as in dockerd: an exec does not outlive the daemon's interest in it.
 */
export class ExecSessions {
  private readonly sessions = new Map<string, ExecSession>();

  constructor(
    private readonly containers: ContainerTable,
    /** A container's start still setting its sandbox up (its answer), if one is. */
    private readonly startSettling: (containerId: string) => Promise<unknown> | undefined,
    /** util-linux's nsenter, by absolute path (kernel/launch-tools.ts). */
    private readonly nsenter: () => string,
  ) {}

  create(containerRef: string, config: ExecConfig): ExecSession {
    const container = this.containers.get(containerRef);
    if (container.state.status !== 'running') throw new ConflictError(`container ${container.name} is not running`, 'start it first');
    if (config.command.length === 0) throw new ConflictError('no command given for exec', 'give the command to run, e.g. docker exec CONTAINER ip addr');
    const session: ExecSession = { id: newId(), containerId: container.id, config, exitCode: null };
    this.sessions.set(session.id, session);
    return session;
  }

  get(id: string): ExecSession {
    const session = this.sessions.get(id);
    if (!session) throw new NotFoundError(`no such exec instance: ${quotePrefix(id)}`);
    return session;
  }

  /**
   * Runs it in the container's namespaces, with the container's environment and its own on
   * top. Links on their way out go first: a disconnected interface's pair waits for berth's
   * plans to pause (kernel/reaper.ts), and a command run in the container sees its
   * interfaces as `network disconnect` left them, as with Docker. A container whose start
   * has not answered yet (its process still mounting its files) is waited for too.
   */
  async start(id: string): Promise<ExecProcess> {
    await this.startSettling(this.get(id).containerId)?.catch(() => undefined);
    if (pendingReaps().size > 0) await reapsSettled();
    const session = this.get(id);
    if (session.process) throw new ConflictError(`exec ${id.slice(0, 12)} has already been started`);
    const container = this.containers.byIdExact(session.containerId);
    if (container?.state.status !== 'running') throw new ConflictError(`container ${container?.name ?? session.containerId.slice(0, 12)} is not running`);
    const env = envObject([...container.env, ...(session.config.tty ? ['TERM=xterm'] : []), ...session.config.env]);
    const process = startExec({ pid: container.state.pid, nsenter: this.nsenter(), command: session.config.command, env, tty: session.config.tty, ...(session.config.workingDir ? { workingDir: session.config.workingDir } : {}) });
    session.process = process;
    void process.exited.then((code) => {
      session.exitCode = code;
      setTimeout(() => this.sessions.delete(id), FINISHED_KEPT_MS).unref();
    });
    return process;
  }

  /** The exec ids of a container (its inspect's ExecIDs). */
  ofContainer(containerId: string): string[] {
    return [...this.sessions.values()].filter((s) => s.containerId === containerId && s.exitCode === null).map((s) => s.id);
  }
}
