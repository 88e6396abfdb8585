/**
 * Where named network namespaces are pinned, as `ip netns` pins them. A module of its own:
 * the namespace pool's thread needs only this of the kernel readers, and importing read.ts
 * there loaded the netlink package and libnftables' bindings into a thread that uses
 * neither (~0.15 s of CPU at every start of the thread, most of it Node's CommonJS lexer).
 */
export const NETNS_DIR = '/run/netns';
