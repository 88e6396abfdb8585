import { closeSync } from 'node:fs';
import { inNetns, openNetns } from './namespaces.js';
import { Rtnl } from './rtnl.js';

/**
 * The link names inside a named network namespace, asked over rtnetlink in-process (no
 * `ip -n` process): teardown plans only deletions of links that are there.
 */
export function linkNamesIn(netns: string): Set<string> {
  const fd = openNetns(netns);
  let socket: Rtnl;
  try {
    socket = inNetns(fd, () => new Rtnl());
  } finally {
    closeSync(fd);
  }
  try {
    return new Set(socket.linkNames());
  } finally {
    socket.close();
  }
}
