import { setTimeout as sleep } from 'node:timers/promises';
import type { StorageClients } from '../src/storage/clients';
import { AzureQueue } from '../src/storage/azure-queue';
import { ExpenseStore } from '../src/expenses/expense-store';
import { ExportTable } from '../src/export/export-table';
import { parseEnvelope, type PoisonEnvelope } from '../src/consumer/poison';
import { isApprovedOrExported, hasExportRow, takesAcknowledgement, type ExpenseState } from '../src/expenses/lifecycle';
import { addToTotals, minorOf, totalsJson, type Totals } from '../src/export/manifest';
import { mapLimit } from '../src/map-limit';
import pino from 'pino';

const silent = pino({ level: 'silent' });

/** Checks run after the faults, against a storage that is up: a generous deadline, but never none. */
const TIMEOUT_MS = 10_000;
const deadline = (ms = TIMEOUT_MS) => AbortSignal.timeout(ms);

export interface InvariantReport {
  ok: boolean;
  /** One line per invariant, "ok" or "FAILED" with the offending ids. */
  lines: string[];
  counts: {
    expenses: number;
    approved: number;
    exportRows: number;
    processing: number;
    mainQueue: number;
    poison: number;
  };
  states: Map<string, ExpenseState | 'missing'>;
  /** Approved expenses with no export row. */
  missing: string[];
  poison: PoisonEnvelope[];
  /** Poisoned messages the caller declared explainable (see CheckOptions), kept out of "unexpected". */
  excused: PoisonEnvelope[];
}

export interface CheckOptions {
  /** A poisoned message this accepts is reported as excused instead of failing the poison invariant. */
  excusePoison?: (entry: PoisonEnvelope) => boolean;
}

/** Every poisoned message, with its envelope. Receives (not peeks, which stop at 32), then gives them all back. */
export async function readPoison(c: StorageClients): Promise<PoisonEnvelope[]> {
  const poison = new AzureQueue(c.poison, TIMEOUT_MS);
  const seen = new Map<string, { popReceipt: string; env: PoisonEnvelope }>();
  for (;;) {
    const batch = await poison.receive(32, 60, deadline());
    if (batch.length === 0) break;
    for (const m of batch) seen.set(m.messageId, { popReceipt: m.popReceipt, env: parseEnvelope(m.messageText) });
  }
  await mapLimit([...seen], 16, ([id, v]) => poison.update(id, v.popReceipt, 0, deadline()));
  return [...seen.values()].map((v) => v.env);
}

const passed = (line: string) => line.startsWith('ok');

/** The report's FAILED lines: asserting these equal [] shows which invariant broke, where `ok` only says that one did. */
export function failedChecks(report: InvariantReport): string[] {
  return report.lines.filter((l) => !passed(l));
}

/**
 * One day against its manifest: seqs 1..seq, each once; rowCount and the
 * totals per currency equal the rows'; no row without a seq.
 */
export async function checkDay(
  exportTable: ExportTable,
  date: string,
): Promise<{ problems: string[]; rows: Array<{ expenseId: string; seq?: number }>; acknowledgedThrough: number }> {
  const rows: Array<{ expenseId: string; seq?: number; currency: string; amount: string }> = [];
  for await (const r of exportTable.storedRows(date)) rows.push(r);
  const m = (await exportTable.manifest(date))?.manifest;
  const problems: string[] = [];
  if (!m) return { problems: rows.length ? [`${date}: ${rows.length} rows and no manifest`] : [], rows, acknowledgedThrough: 0 };
  const seqs = rows.map((r) => r.seq ?? 0).sort((a, b) => a - b);
  if (seqs.some((q, i) => q !== i + 1)) problems.push(`${date}: seqs are not 1..${rows.length}, each once`);
  if (m.seq !== rows.length || m.rowCount !== rows.length)
    problems.push(`${date}: manifest seq ${m.seq}, rowCount ${m.rowCount}; ${rows.length} rows`);
  let totals: Totals = {};
  for (const r of rows) totals = addToTotals(totals, r.currency, minorOf(r.amount, r.currency));
  if (JSON.stringify(totalsJson(totals)) !== JSON.stringify(totalsJson(m.totals))) {
    problems.push(`${date}: manifest totals ${JSON.stringify(totalsJson(m.totals))}, rows ${JSON.stringify(totalsJson(totals))}`);
  }
  return { problems, rows, acknowledgedThrough: m.acknowledgedThrough };
}

const diff = (a: Iterable<string>, b: ReadonlySet<string>) => [...a].filter((x) => !b.has(x));
const show = (ids: readonly string[]) => (ids.length > 5 ? `${ids.slice(0, 5).join(', ')} … (${ids.length})` : ids.join(', '));

/**
 * The invariants of issue 3, over the expenses a run created (`ids`): export
 * rows = approved expenses, no duplicates, none missing; every exported
 * expense is processing; the main queue is empty; the poison queue holds
 * exactly `expectedPoison` (bodies), each with a reason. Reads are point
 * reads and single-partition queries, like the service's own.
 */
export async function checkInvariants(
  c: StorageClients,
  ids: readonly string[],
  expectedPoison: readonly string[],
  opts: CheckOptions = {},
): Promise<InvariantReport> {
  const store = new ExpenseStore(c, TIMEOUT_MS);
  const exportTable = new ExportTable(c.exports, TIMEOUT_MS, { logger: silent });
  const states = new Map<string, ExpenseState | 'missing'>();
  const dates = new Set<string>();
  await mapLimit(ids, 32, async (id) => {
    const e = (await store.get(id))?.value;
    states.set(id, e?.state ?? 'missing');
    if (e?.approvalDate) dates.add(e.approvalDate);
  });
  const isApproved = (id: string) => {
    const st = states.get(id)!;
    return st !== 'missing' && isApprovedOrExported(st);
  };
  const approved = new Set(ids.filter(isApproved));

  // One row per approval (an expense approved again after a rejection has a row per attempt).
  const rowsById = new Map<string, number>();
  const dayProblems: string[] = [];
  const ackProblems: string[] = [];
  for (const date of dates) {
    const day = await checkDay(exportTable, date);
    dayProblems.push(...day.problems);
    for (const r of day.rows) {
      const current = states.get(r.expenseId);
      if (current === undefined || current === 'missing') continue; // not ours
      rowsById.set(r.expenseId, (rowsById.get(r.expenseId) ?? 0) + 1);
      // Acknowledged rows: their expenses have moved on from processing (the applier may still be at work: settle waits).
      if (r.seq !== undefined && r.seq <= day.acknowledgedThrough && takesAcknowledgement(current))
        ackProblems.push(`${date}#${r.seq} ${r.expenseId}`);
    }
  }
  const ours = new Set(ids);
  const exported = [...rowsById.keys()].filter((id) => ours.has(id));
  const duplicates = exported.filter((id) => rowsById.get(id)! > 1);
  const missing = diff(approved, new Set(exported));
  const extra = diff(exported, approved);
  const isExportedState = (id: string) => {
    const st = states.get(id)!;
    return st !== 'missing' && hasExportRow(st);
  };
  const notProcessing = exported.filter((id) => !isExportedState(id));
  const mainQueue = (await c.queue.getProperties({ abortSignal: deadline() })).approximateMessagesCount ?? -1;

  // A crash between "copy to poison" and "delete from main" poisons the same message twice, by design (never lose one):
  // one input, one entry, so copies of one original message count once.
  const all = await readPoison(c);
  const poison = all.filter((p, i) => !p.originalMessageId || all.findIndex((q) => q.originalMessageId === p.originalMessageId) === i);
  const expected = new Map<string, number>();
  for (const b of expectedPoison) expected.set(b, (expected.get(b) ?? 0) + 1);
  const unexpected: string[] = [];
  const excused: PoisonEnvelope[] = [];
  for (const p of poison) {
    const left = expected.get(p.body) ?? 0;
    if (left > 0) expected.set(p.body, left - 1);
    else if (opts.excusePoison?.(p)) excused.push(p);
    else unexpected.push(`${p.code}: ${p.body.slice(0, 60)}`);
  }
  const notPoisoned = [...expected].flatMap(([b, n]) => Array<string>(n).fill(b.slice(0, 60)));
  const withoutReason = poison.filter((p) => !p.reason || !p.code || !p.failedAt).map((p) => p.body.slice(0, 60));

  const lines: string[] = [];
  const check = (name: string, bad: readonly string[]) =>
    lines.push(bad.length === 0 ? `ok      ${name}` : `FAILED  ${name}: ${show(bad)}`);
  check('every approved expense has an export row (none missing)', missing);
  check('every export row belongs to an approved expense', extra);
  check('no expense has more than one export row', duplicates);
  check('every exported expense is processing or beyond', notProcessing);
  check("every day's manifest seq, rowCount and totals equal its rows; seqs are dense and unique", dayProblems);
  check('every acknowledged row has its expense exported', ackProblems);
  check('the main queue is empty', mainQueue === 0 ? [] : [`${mainQueue} messages left`]);
  check('the poison queue holds no unexpected message', unexpected);
  check('every malformed input is in the poison queue', notPoisoned);
  check('every poisoned message records its reason and time', withoutReason);
  return {
    ok: lines.every(passed),
    lines,
    counts: {
      expenses: ids.length,
      approved: approved.size,
      exportRows: exported.length,
      processing: ids.filter(isExportedState).length,
      mainQueue,
      poison: poison.length,
    },
    states,
    missing,
    poison,
    excused,
  };
}

/** Polls the invariants until they hold or time runs out; returns the last report either way, for the caller to print or assert. */
export async function settleInvariants(
  c: StorageClients,
  ids: readonly string[],
  expectedPoison: readonly string[],
  timeoutMs: number,
  everyMs = 500,
  opts: CheckOptions = {},
): Promise<InvariantReport> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let report: InvariantReport | undefined;
    try {
      report = await checkInvariants(c, ids, expectedPoison, opts);
      if (report.ok) return report;
    } catch (err) {
      if (Date.now() > end) throw err;
    }
    if (Date.now() > end && report) return report;
    await sleep(everyMs);
  }
}
