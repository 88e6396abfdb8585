import { usageError, type CommandInfo } from '../common/args.js';

/**
 * `--filter KEY=VALUE` flags as Docker's `filters` query parameter (the map form,
 * `{"label":{"env=prod":true}}`); undefined when none are given. The daemon checks the
 * names and values, so the CLI and API clients get the same errors.
 */
export function filtersParam(command: CommandInfo, specs: readonly string[]): string | undefined {
  if (specs.length === 0) return undefined;
  const filters: Record<string, Record<string, boolean>> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw usageError(command, `bad format of filter "${spec}": expected KEY=VALUE, e.g. label=env=prod`);
    // "label!=x" is the key "label!" (Docker's negated label filter), not "label" != "x".
    (filters[spec.slice(0, eq)] ??= {})[spec.slice(eq + 1)] = true;
  }
  return JSON.stringify(filters);
}
