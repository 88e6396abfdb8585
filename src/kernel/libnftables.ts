import koffi from 'koffi';
import { closeOnExecAll } from './close-on-exec.js';

/**
 * libnftables in-process, through koffi: the library `nft` itself is built on (Debian's
 * libnftables1, a dependency of the nftables package), fed the same text `nft -f` takes.
 * Each call is one atomic transaction, as `nft -f` is, at ~0.04 ms instead of a process
 * (2-4 ms to start on this VM; research/kernel-interface.md §4.3).
 *
 * A context talks to the network namespace its netlink socket was opened in, which is the
 * namespace of the thread that made it: the host's context is made once, a namespace's is
 * made inside it (netlink/namespaces.ts inNetns) and freed after its transaction.
 */
interface Lib {
  readonly ctxNew: (flags: number) => unknown;
  readonly ctxFree: (ctx: unknown) => void;
  readonly bufferOutput: (ctx: unknown) => number;
  readonly bufferError: (ctx: unknown) => number;
  readonly errorBuffer: (ctx: unknown) => string;
  readonly outputBuffer: (ctx: unknown) => string;
  readonly runFromBuffer: (ctx: unknown, script: string) => number;
}

let lib: Lib | undefined;
/** Attempts at a transaction a signal interrupted. */
const MAX_ATTEMPTS = 5;
let hostContext: unknown;

function load(): Lib {
  if (lib) return lib;
  const so = koffi.load('libnftables.so.1');
  lib = {
    ctxNew: so.func('void *nft_ctx_new(uint32_t flags)'),
    ctxFree: so.func('void nft_ctx_free(void *ctx)'),
    bufferOutput: so.func('int nft_ctx_buffer_output(void *ctx)'),
    bufferError: so.func('int nft_ctx_buffer_error(void *ctx)'),
    errorBuffer: so.func('const char *nft_ctx_get_error_buffer(void *ctx)'),
    outputBuffer: so.func('const char *nft_ctx_get_output_buffer(void *ctx)'),
    runFromBuffer: so.func('int nft_run_cmd_from_buffer(void *ctx, const char *buf)'),
  };
  return lib;
}

/** Whether libnftables loads here (else the caller runs `nft`). */
export function libnftablesAvailable(): boolean {
  try {
    load();
    return true;
  } catch {
    return false;
  }
}

function newContext(l: Lib): unknown {
  const ctx = l.ctxNew(0);
  if (!ctx) throw new Error('nft_ctx_new failed');
  // Output and errors go to buffers, not to the daemon's stdout and stderr.
  l.bufferOutput(ctx);
  l.bufferError(ctx);
  return ctx;
}

/**
 * The host's context, kept for the process's life: its netlink socket is opened without
 * close-on-exec (close-on-exec.ts says why that matters). A namespace's context is made and
 * freed within one synchronous call, so no process is started while it is open.
 */
function keptContext(l: Lib): unknown {
  const ctx = newContext(l);
  closeOnExecAll();
  return ctx;
}

/** Runs `script` as one transaction in this thread's namespace and returns what it printed (a `list`); throws with nft's own error text. */
export function runNft(script: string, where: 'host' | 'here' = 'host'): string {
  const l = load();
  const ctx = where === 'host' ? (hostContext ??= keptContext(l)) : newContext(l);
  try {
    for (let attempt = 1; ; attempt++) {
      const failed = l.runFromBuffer(ctx, script) !== 0;
      // Reading a buffer rewinds it: a kept context starts the next transaction empty.
      const errors = l.errorBuffer(ctx).trim();
      const output = l.outputBuffer(ctx);
      if (!failed) return output;
      // A signal (a child exiting, a profiler) cut a netlink call short, or the ruleset's
      // generation changed under the transaction: nothing of it was applied, so it runs again.
      if (/Interrupted system call/.test(errors) && attempt < MAX_ATTEMPTS) continue;
      throw new Error(errors || 'nft transaction failed');
    }
  } finally {
    if (where === 'here') l.ctxFree(ctx);
  }
}
