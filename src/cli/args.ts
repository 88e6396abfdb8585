import { InvalidArgumentError } from '../common/errors.js';

/**
 * A small Docker-style flag parser: `--flag value`, `--flag=value`, `-f value`, grouped
 * short booleans (`-fd`), repeatable flags (`-e A=1 -e B=2`), and `--` ending the flags.
 * Parsing stops at the first positional argument when `stopAtPositional` is set (so
 * `berth exec NAME ping -c1 x` leaves `-c1` to ping).
 */
/** A command line that does not parse; the CLI exits 2 for these, 1 for every other error. */
export class UsageError extends InvalidArgumentError {}

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

export function parseArgs(command: string, argv: readonly string[], specs: FlagSpecs, opts: { stopAtPositional?: boolean } = {}): Parsed {
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
    throw new UsageError(`unknown flag: ${flag}`, `see 'berth ${command} --help'`);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return { flags, positionals, rest: argv.slice(i + 1) };
    if (opts.stopAtPositional && positionals.length > 0) return { flags, positionals: [...positionals, ...argv.slice(i)], rest: undefined };
    const takeValue = (flag: string, inline: string | undefined): string => {
      if (inline !== undefined) return inline;
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`flag needs an argument: ${flag}`, `see 'berth ${command} --help'`);
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
