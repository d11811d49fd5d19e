import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { applyResultLine, LINE_OUTCOMES, type ApplyDeps, type LineOutcome, type LineResult } from './apply-result';
import { LEASE_MS, type ImportLedger } from './import-ledger';
import { countRecords, readRecords, ResultFileError, spool, type ResultMedia } from './result-file';
import { parseResultLine } from './result-line';

export interface ImportRequest {
  body: Readable;
  media: ResultMedia;
  /** The Idempotency-Key: the same key and body give the stored answer, and apply nothing twice. */
  key: string;
  /** Result-Row-Count, when the sender declares it: a file with another count is refused whole. */
  declaredCount?: number;
  by: string;
}

export interface LineError {
  line: number;
  expenseId?: string;
  code: Exclude<LineOutcome, 'applied' | 'noop'>;
  message: string;
}

export interface ImportSummary {
  importId: string;
  received: number;
  counts: Record<LineOutcome, number>;
  /** Every line that was not applied or a no-op, in file order. */
  errors: LineError[];
}

/** The key is taken by another body (422), or by a run still in progress (409). */
export class IdempotencyError extends Error {
  override name = 'IdempotencyError';
  constructor(
    readonly code: 'idempotency_key_reused' | 'import_in_progress',
    message: string,
    readonly retryAfterSec?: number,
  ) {
    super(message);
  }
}

export interface ResultsImportDeps extends ApplyDeps {
  ledger: ImportLedger;
  maxBytes: number;
  logger: Logger;
  /** Counted per line, for results_lines_total. */
  counted?: (outcome: LineOutcome) => void;
  /** Told of each completed import (the results.imported webhook); must not throw. */
  imported?: (summary: ImportSummary) => void;
  /** Lines applied at once (lines of one expense always one after another, in file order). */
  concurrency?: number;
}

/** Failed lines logged one by one, at most this many per import (then a count): never the whole file. */
const MAX_LOGGED_LINES = 100;

/**
 * POST /results and `expense-export results import`: a file of posted, paid
 * and rejected expenses, applied line by line, exactly once. Whole-file
 * problems (undecodable, bad header, malformed, too large, a count other
 * than declared) are refused before anything is applied; each line is then
 * judged on its own, and one bad line never sinks the file.
 */
export class ResultsImporter {
  constructor(private readonly d: ResultsImportDeps) {}

  async import(req: ImportRequest): Promise<{ summary: ImportSummary; replayed: boolean }> {
    const file = await spool(req.body, this.d.maxBytes);
    try {
      const fingerprint = createHash('sha256').update(`${req.media}\n${file.sha256}`).digest('hex');
      const begun = await this.d.ledger.begin(req.key, fingerprint);
      if (begun.kind === 'mismatch')
        throw new IdempotencyError(
          'idempotency_key_reused',
          'This Idempotency-Key was used for another file; use a new key for a new file.',
        );
      if (begun.kind === 'in-flight') {
        throw new IdempotencyError(
          'import_in_progress',
          'An import with this Idempotency-Key is still running; retry when it is done.',
          begun.retryAfterSec,
        );
      }
      if (begun.kind === 'replay') return { summary: begun.response as ImportSummary, replayed: true };

      let etag = begun.etag!;
      let count: number;
      try {
        count = await countRecords(file.path, req.media);
        if (req.declaredCount !== undefined && count !== req.declaredCount) {
          throw new ResultFileError(
            'row_count_mismatch',
            `Result-Row-Count says ${req.declaredCount} lines; the file holds ${count}. Nothing was applied.`,
          );
        }
      } catch (err) {
        await this.d.ledger.abandon(begun.importId, etag); // nothing applied: the key may be used again
        throw err;
      }

      const heartbeat = setInterval(() => {
        void this.d.ledger.renew(begun.importId, etag).then(
          (next) => next && (etag = next),
          () => undefined,
        );
      }, LEASE_MS / 3);
      heartbeat.unref();
      let summary: ImportSummary;
      try {
        summary = await this.applyAll(file.path, req.media, begun.importId);
      } finally {
        clearInterval(heartbeat);
      }
      await this.d.ledger.complete(begun.importId, etag, summary);
      this.d.logger.info(
        { importId: summary.importId, by: req.by, received: summary.received, counts: summary.counts, resumed: begun.kind === 'resume' },
        'results imported',
      );
      this.d.imported?.(summary);
      return { summary, replayed: false };
    } finally {
      await file.remove();
    }
  }

  private async applyAll(path: string, media: ResultMedia, importId: string): Promise<ImportSummary> {
    const counts = Object.fromEntries(LINE_OUTCOMES.map((o) => [o, 0])) as Record<LineOutcome, number>;
    const errors: LineError[] = [];
    let received = 0;
    let failure: unknown;
    const note = (line: number, expenseId: string | undefined, r: LineResult) => {
      counts[r.outcome]++;
      this.d.counted?.(r.outcome);
      if (r.outcome === 'applied' || r.outcome === 'noop') return;
      errors.push({ line, ...(expenseId ? { expenseId } : {}), code: r.outcome, message: r.message ?? r.outcome });
      if (errors.length <= MAX_LOGGED_LINES)
        this.d.logger.warn({ importId, line, expenseId, code: r.outcome, reason: r.message }, 'result line not applied');
    };

    // Lines of one expense run one after another, in file order (posted, then paid); different expenses at once.
    const chains = new Map<string, Promise<void>>();
    const active = new Set<Promise<void>>();
    const width = this.d.concurrency ?? 16;
    for await (const rec of readRecords(path, media)) {
      received++;
      if (failure) break;
      const parsed = parseResultLine(rec.raw, rec.line);
      if (!parsed.ok) {
        note(parsed.line, parsed.expenseId, { outcome: 'bad_row', message: parsed.message });
        continue;
      }
      while (active.size >= width) await Promise.race(active);
      const line = parsed.value;
      const p: Promise<void> = (chains.get(line.expenseId) ?? Promise.resolve())
        .then(() => (failure ? undefined : applyResultLine(this.d, line, importId)))
        .then(
          (r) => r && note(line.line, line.expenseId, r),
          (err: unknown) => void (failure ??= err),
        )
        .finally(() => {
          active.delete(p);
          if (chains.get(line.expenseId) === p) chains.delete(line.expenseId);
        });
      chains.set(line.expenseId, p);
      active.add(p);
    }
    await Promise.all(active);
    // Storage failed part-way: what was applied stays applied (and shows as applied when the same key runs again).
    if (failure) throw failure instanceof Error ? failure : new Error('a result line failed');
    if (errors.length > MAX_LOGGED_LINES)
      this.d.logger.warn({ importId, notLogged: errors.length - MAX_LOGGED_LINES }, 'more result lines not applied');
    errors.sort((a, b) => a.line - b.line);
    return { importId, received, counts, errors };
  }
}
