import koffi from 'koffi';
import { constants as osConstants } from 'node:os';

/**
 * libc, loaded once for the whole process through koffi: the syscalls Node has no API for
 * (namespaces, sockets created inside another namespace). Callers declare the functions
 * they use; `errno` reads the error of the last failed call on this thread.
 */
export const libc = koffi.load('libc.so.6');

/** fcntl.h O_CLOEXEC (Node's fs.constants has no such entry). */
export const O_CLOEXEC = 0o2000000;

export function errno(): number {
  return koffi.errno();
}

/** An errno's name (ENOENT, EINVAL, ...), or "errno N" for one Node does not name. */
export function errnoName(code: number): string {
  return Object.entries(osConstants.errno).find(([, n]) => n === code)?.[0] ?? `errno ${code}`;
}
