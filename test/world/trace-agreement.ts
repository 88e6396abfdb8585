/**
 * The comparison behind `berth trace`'s agreement tests: random pairs traced by the model
 * (nothing sent) and by the probe (a real packet), with equal verdicts required and a drop
 * blamed on the same rule handle by both. Pairs the model refuses are refused alike by the
 * probe (both resolve the ends with the same code); pairs the model hands to a machine
 * berth does not run (`beyondHost`) are beyond it, and counted apart.
 */
export interface TraceAnswer {
  readonly verdict: string;
  readonly beyondHost?: string;
  readonly hops: readonly { readonly at: string; readonly what: string; readonly rule?: { readonly table: string; readonly handle: number } }[];
  readonly notes: readonly string[];
}

/** One method's answer for a pair: the answer, or the refusal's text. */
export type Traced = { readonly answer: TraceAnswer } | { readonly refused: string };

export interface Tally {
  traced: number;
  refusedAlike: number;
  beyond: number;
  readonly verdicts: Map<string, number>;
  readonly disagreements: string[];
  elapsedMs: number;
}

/** Traces pairs from `nextPair` (undefined: skip this draw) until `pairs` are compared or 20 times as many draws are spent. */
export async function tallyAgreement(pairs: number, nextPair: () => readonly [string, string] | undefined, trace: (src: string, dst: string, probe: boolean) => Promise<Traced>): Promise<Tally> {
  const tally: Tally = { traced: 0, refusedAlike: 0, beyond: 0, verdicts: new Map(), disagreements: [], elapsedMs: 0 };
  const tried = new Set<string>();
  for (let n = 0; tally.traced < pairs && n < pairs * 20; n++) {
    const pair = nextPair();
    if (!pair || tried.has(pair.join(' '))) continue;
    tried.add(pair.join(' '));
    const [src, dst] = pair;
    const started = Date.now();
    const model = await trace(src, dst, false);
    if (!('answer' in model) || model.answer.beyondHost !== undefined) {
      if ('answer' in model) tally.beyond++;
      else tally.refusedAlike++;
      continue;
    }
    const probe = await trace(src, dst, true);
    tally.elapsedMs += Date.now() - started;
    const m = model.answer;
    if (!('answer' in probe)) {
      tally.disagreements.push(`${src} -> ${dst}: model ${m.verdict}, probe refused: ${probe.refused}`);
      continue;
    }
    const p = probe.answer;
    tally.traced++;
    tally.verdicts.set(m.verdict, (tally.verdicts.get(m.verdict) ?? 0) + 1);
    if (m.verdict !== p.verdict) tally.disagreements.push(`${src} -> ${dst}: model ${m.verdict}, probe ${p.verdict}\n  model: ${JSON.stringify(m.hops)}\n  probe: ${JSON.stringify(p.hops)}`);
    else if (m.verdict === 'dropped' && blamed(m) !== blamed(p)) tally.disagreements.push(`${src} -> ${dst}: dropped by rule #${blamed(m)} (model) but #${blamed(p)} (probe)`);
  }
  return tally;
}

/** The handle of the rule that dropped the packet: the model's "dropped" hop, the probe's "verdict drop". */
function blamed(a: TraceAnswer): number | undefined {
  return a.hops.find((h) => h.rule && /^dropped/.test(h.what))?.rule?.handle ?? a.hops.find((h) => h.what === 'verdict drop')?.rule?.handle;
}

export function describeTally(t: Tally): string {
  return `${t.traced} pairs traced (and ${t.refusedAlike} refused alike, ${t.beyond} handed beyond this host), verdicts ${JSON.stringify(Object.fromEntries(t.verdicts))}, ${t.elapsedMs} ms in all`;
}
