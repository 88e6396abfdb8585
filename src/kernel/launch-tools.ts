import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MissingFeatureError } from '../common/errors.js';

/**
 * The programs a container's processes are started through, found once when the daemon
 * starts and used by absolute path. A container's environment is its own: found through
 * it, `run -e PATH=/opt ...` could not even start, where Docker only looks the container's
 * command up there.
 */
export interface LaunchTools {
  /** berth-init (native/berth-init.c): a container's first process. */
  readonly init: string;
  /** util-linux's nsenter, for `exec` (its --wd). */
  readonly nsenter: string;
}

/**
 * Where the build puts berth-init, seen from this module: it runs from the bundle
 * (dist/cli/) or from tsc's output (dist/src/kernel/).
 */
const INIT_CANDIDATES = ['../native/berth-init', '../../native/berth-init'];

/** Finds both: berth-init in the build, nsenter in `pathEnv` (the daemon's PATH); a missing one is named with what provides it. */
export function findLaunchTools(pathEnv = process.env.PATH ?? ''): LaunchTools {
  const init = INIT_CANDIDATES.map((c) => fileURLToPath(new URL(c, import.meta.url))).find(isExecutable);
  if (init === undefined) {
    throw new MissingFeatureError('berth-init, the first process of every container, is not built', 'run `npm run build` (it compiles native/launcher.c and native/berth-init.c; needs musl-gcc: apt-get install musl-tools)');
  }
  const nsenter = findInPath('nsenter', pathEnv);
  if (nsenter === undefined) throw new MissingFeatureError('"nsenter" is not installed (berth runs `exec` through it)', 'install it: apt-get install util-linux');
  return { init, nsenter };
}

/** Where a shell would find `command` (as is, when it holds a slash), or undefined: the first executable in `pathEnv`. */
export function findInPath(command: string, pathEnv: string): string | undefined {
  const candidates = command.includes('/') ? [command] : pathEnv.split(delimiter).filter(Boolean).map((dir) => join(dir, command));
  // Synchronously: a few local lookups of a few µs each, where each asynchronous call
  // waited for the thread pool (0.1-0.5 ms while containers start).
  return candidates.find(isExecutable);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
