import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { MissingFeatureError } from '../common/errors.js';

/**
 * The programs a container's processes are started through, found once in the daemon's
 * PATH and used by absolute path. A container's environment is its own: found through it,
 * `run -e PATH=/opt ...` could not even start (nsenter looked `unshare` up in it, the
 * wrapper `mount`), where Docker only looks the container's command up there.
 */
export interface LaunchTools {
  /**
   * busybox-static, whose `nsenter` and `unshare` start each container's first process.
   * Static, they skip the dynamic loader: 2-3 ms less each than util-linux's on the VM
   * measured, and a container starts through both (docs/decisions.md).
   */
  readonly busybox: string;
  /** util-linux's, for `exec` (its --wd; one per exec, not per container). */
  readonly nsenter: string;
  /**
   * util-linux's, for the wrapper's `mount -a` of the container's table. busybox's skips
   * every entry whose directory is a mount point already: /sys, and the cover of a data
   * root that is a mount of its own.
   */
  readonly mount: string;
  /** `--user NAME`: looks the user up (coreutils). */
  readonly id: string;
  /** `--user`: runs the command as that user (util-linux). */
  readonly setpriv: string;
}

/** Each tool's name and the Debian package it comes from, for the "not installed" error. */
const PACKAGES: Record<keyof LaunchTools, string> = {
  busybox: 'busybox-static',
  nsenter: 'util-linux',
  mount: 'mount',
  id: 'coreutils',
  setpriv: 'util-linux',
};

/** Finds every tool in `pathEnv` (the daemon's PATH); a missing one is named with its package. */
export function findLaunchTools(pathEnv = process.env.PATH ?? ''): LaunchTools {
  const find = (tool: keyof LaunchTools): string => {
    const found = findInPath(tool, pathEnv);
    if (found !== undefined) return found;
    throw new MissingFeatureError(`"${tool}" is not installed (berth starts containers through it)`, `install it: apt-get install ${PACKAGES[tool]}`);
  };
  return { busybox: find('busybox'), nsenter: find('nsenter'), mount: find('mount'), id: find('id'), setpriv: find('setpriv') };
}

/** Where a shell would find `command` (as is, when it holds a slash), or undefined: the first executable in `pathEnv`. */
export function findInPath(command: string, pathEnv: string): string | undefined {
  const candidates = command.includes('/') ? [command] : pathEnv.split(delimiter).filter(Boolean).map((dir) => join(dir, command));
  for (const candidate of candidates) {
    try {
      // Synchronously: a few local lookups of a few µs each, where each asynchronous call
      // waited for the thread pool (0.1-0.5 ms while containers start).
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next directory
    }
  }
  return undefined;
}
