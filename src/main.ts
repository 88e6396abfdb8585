import { runCli } from './cli/main.js';

/**
 * The program: the CLI, which speaks only the API, handed the two things that are the
 * daemon's side (running it, and planning without it). Each is loaded when called, so
 * `berth ps` never loads the engine.
 */
runCli(process.argv.slice(2), {
  daemon: async (argv, host) => (await import('./daemon/command.js')).daemonCommand(argv, host),
  planOffline: async (body, name, explained) => (await import('./daemon/offline-plan.js')).planOffline(body, name, explained),
});
