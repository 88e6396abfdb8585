import { relative } from 'node:path';

/**
 * The suite's reporter (node --test --test-reporter): one progress line per test file as
 * it finishes (counts and seconds), each failure in full (its test path, error and where),
 * and a closing summary whose last line is the plain "N passed, N failed, N skipped"
 * that CI reads. Raw TAP printed 1,300 lines a run; a person wants to see which file is
 * running and what broke.
 */
interface TestEventData {
  readonly name: string;
  readonly nesting: number;
  readonly file?: string;
  readonly skip?: string | boolean;
  readonly todo?: string | boolean;
  readonly details: { readonly duration_ms?: number; readonly type?: string; readonly error?: unknown };
}

interface TestEvent {
  readonly type: string;
  readonly data: TestEventData;
}

interface FileTally {
  passed: number;
  failed: number;
  skipped: number;
  skipReasons: Set<string>;
  /** Summed durations of the file's top-level suites and tests (events arrive in bursts, so wall-clock gaps between them mean nothing). */
  durationMs: number;
}

export default async function* reporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const files = new Map<string, FileTally>();
  const totals = { passed: 0, failed: 0, skipped: 0 };
  const failures: string[] = [];
  const path: string[] = [];
  let current: string | undefined;
  const finishFile = function* (file: string | undefined): Generator<string> {
    const t = file === undefined ? undefined : files.get(file);
    if (file === undefined || !t) return;
    const seconds = (t.durationMs / 1000).toFixed(1);
    const mark = t.failed > 0 ? '✖' : t.passed === 0 && t.skipped > 0 ? '-' : '✔';
    const skipped = t.skipped > 0 ? `, ${t.skipped} skipped (${[...t.skipReasons].join('; ')})` : '';
    yield `${mark} ${relative(process.cwd(), file)}: ${t.passed} passed, ${t.failed} failed${skipped} in ${seconds} s\n`;
  };
  for await (const event of source) {
    const { data } = event;
    if (event.type === 'test:start') {
      path[data.nesting] = data.name;
      path.length = data.nesting + 1;
      if (data.file !== undefined && data.file !== current) {
        yield* finishFile(current);
        current = data.file;
      }
      if (data.file !== undefined && !files.has(data.file)) files.set(data.file, { passed: 0, failed: 0, skipped: 0, skipReasons: new Set(), durationMs: 0 });
      continue;
    }
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const tally = data.file === undefined ? undefined : files.get(data.file);
    if (tally && data.nesting === 0) tally.durationMs += data.details.duration_ms ?? 0;
    // Suites report too; only tests (leaves) are counted, as node's own summary does, except
    // a suite that failed by itself (a before/after hook: the leak check), which fails the run.
    if (data.details.type === 'suite' && !(event.type === 'test:fail' && failureTypeOf(data) !== 'subtestsFailed')) continue;
    if (event.type === 'test:fail') {
      totals.failed++;
      if (tally) tally.failed++;
      const where = data.file === undefined ? '' : ` (${relative(process.cwd(), data.file)})`;
      failures.push(`✖ ${[...path.slice(0, data.nesting), data.name].join(' › ')}${where}\n${indent(describeError(data.details.error))}\n`);
      yield failures.at(-1)!;
    } else if (data.skip !== undefined && data.skip !== false) {
      totals.skipped++;
      if (tally) {
        tally.skipped++;
        if (typeof data.skip === 'string') tally.skipReasons.add(data.skip);
      }
    } else {
      totals.passed++;
      if (tally) tally.passed++;
    }
  }
  yield* finishFile(current);
  if (failures.length > 0) yield `\nFailures:\n${failures.join('')}`;
  yield `\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`;
}

function failureTypeOf(data: TestEventData): string | undefined {
  const error = data.details.error as { failureType?: unknown } | undefined;
  return typeof error?.failureType === 'string' ? error.failureType : undefined;
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // node:test wraps the test's own error as the cause of an ERR_TEST_FAILURE.
  const inner = error.cause instanceof Error ? error.cause : error;
  return inner.stack ?? `${inner.name}: ${inner.message}`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}
