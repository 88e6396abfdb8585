import { InvalidArgumentError } from '../common/errors.js';

/** Left-aligned columns separated by three spaces, as `docker ps` prints them. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/**
 * The subset of Go templates people use with `docker inspect --format`:
 * `{{.A.B}}`, `{{json .A}}`, and `{{range $k, $v := .A}}...{{end}}` is not supported.
 */
export function applyFormat(template: string, value: unknown): string {
  return template.replace(/\{\{\s*(json\s+)?\.([\w.]*)\s*\}\}/g, (_m, asJson: string | undefined, path: string) => {
    let v: unknown = value;
    for (const key of path.split('.').filter(Boolean)) {
      v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined;
    }
    if (asJson) return JSON.stringify(v);
    if (v === undefined || v === null) return '<no value>';
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
    return JSON.stringify(v);
  }).replace(/\{\{.*?\}\}/g, (m) => {
    throw new InvalidArgumentError(`unsupported template action ${m}`, 'supported: {{.Field.Sub}} and {{json .Field}}');
  });
}

/**
 * `--format` over list rows, as `docker ps`/`network ls` take it: one line per row, or with
 * a leading "table", aligned columns (split on tabs, written `\t`) under a header of the
 * field names.
 */
export function printFormatted(format: string, rows: readonly Record<string, string>[]): void {
  const asTable = /^table\b\s*/.exec(format);
  const template = (asTable ? format.slice(asTable[0].length) : format).replaceAll('\\t', '\t');
  const lines = rows.map((row) => applyFormat(template, row));
  if (!asTable) {
    for (const line of lines) console.log(line);
    return;
  }
  const header = template.replace(/\{\{\s*(?:json\s+)?\.(\w+)\s*\}\}/g, (_m, field: string) => field.toUpperCase()).split('\t');
  console.log(table(header, lines.map((line) => line.split('\t'))));
}
