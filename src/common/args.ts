import { InvalidArgumentError } from './errors.js';

/**
 * A small Docker-style flag parser: `--flag value`, `--flag=value`, `-f value`, grouped
 * short booleans (`-fd`), repeatable flags (`-e A=1 -e B=2`), and `--` ending the flags.
 * Parsing stops at the first positional argument when `stopAtPositional` is set (so
 * `berth exec NAME ping -c1 x` leaves `-c1` to ping). Every command gets `--help` from
 * here: its usage text is part of how it is parsed, so none can lack one.
 */

/** A command line that does not parse; the CLI exits 2 for these, 1 for every other error. */
export class UsageError extends InvalidArgumentError {}

/** `--help` was asked for: the CLI prints `usage` on stdout and exits 0. */
export class HelpRequested extends Error {
  constructor(readonly usage: string) {
    super('help requested');
  }
}

/** A command's name as typed (`network create`) and its help text. */
export interface CommandInfo {
  readonly name: string;
  readonly usage: string;
}

/** A wrong number of arguments: a usage error that points at the command's help. */
export function usageError(command: CommandInfo, message: string): UsageError {
  return new UsageError(message, `see 'berth ${command.name} --help'\n${command.usage.split('\n')[0]!}`);
}

export interface FlagSpec {
  readonly short?: string;
  readonly value: boolean; // takes a value
  readonly repeat?: boolean;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

export interface Parsed {
  readonly flags: ReadonlyMap<string, string[]>;
  readonly positionals: string[];
  /** Everything after a literal `--`. */
  readonly rest: string[] | undefined;
}

export function parseArgs(command: CommandInfo, argv: readonly string[], specs: FlagSpecs, opts: { stopAtPositional?: boolean } = {}): Parsed {
  const flags = new Map<string, string[]>();
  const positionals: string[] = [];
  const byShort = new Map(Object.entries(specs).flatMap(([name, s]) => (s.short ? [[s.short, name] as const] : [])));
  const set = (name: string, value: string): void => {
    const spec = specs[name]!;
    const list = flags.get(name) ?? [];
    if (!spec.repeat) list.length = 0;
    list.push(value);
    flags.set(name, list);
  };
  const unknown = (flag: string): never => {
    throw usageError(command, `unknown flag: ${flag}`);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (opts.stopAtPositional && positionals.length > 0) return { flags, positionals: [...positionals, ...argv.slice(i)], rest: undefined };
    if (arg === '--') return { flags, positionals, rest: argv.slice(i + 1) };
    if (arg === '--help' && specs.help === undefined) throw new HelpRequested(command.usage);
    const takeValue = (flag: string, inline: string | undefined): string => {
      if (inline !== undefined) return inline;
      const next = argv[++i];
      if (next === undefined) throw usageError(command, `flag needs an argument: ${flag}`);
      return next;
    };
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const inline = eq === -1 ? undefined : arg.slice(eq + 1);
      const spec = specs[name] ?? unknown(`--${name}`);
      set(name, spec.value ? takeValue(`--${name}`, inline) : (inline ?? 'true'));
    } else if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const name = byShort.get(arg[j]!) ?? unknown(`-${arg[j]!}`);
        if (specs[name]!.value) {
          const inline = j + 1 < arg.length ? arg.slice(j + 1) : undefined;
          set(name, takeValue(`-${arg[j]!}`, inline?.startsWith('=') ? inline.slice(1) : inline));
          break;
        }
        set(name, 'true');
      }
    } else {
      positionals.push(arg);
    }
  }
  return { flags, positionals, rest: undefined };
}

export function flag(parsed: Parsed, name: string): string | undefined {
  return parsed.flags.get(name)?.at(-1);
}

export function flagList(parsed: Parsed, name: string): string[] {
  return parsed.flags.get(name) ?? [];
}

export function boolFlag(parsed: Parsed, name: string): boolean {
  const v = flag(parsed, name);
  if (v === undefined || v === 'false') return false;
  if (v === 'true') return true;
  throw new InvalidArgumentError(`invalid value "${v}" for --${name}: use true or false`);
}
