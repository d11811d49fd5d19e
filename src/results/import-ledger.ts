import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { TableClient, TransactionAction } from '@azure/data-tables';
import { odata } from '@azure/data-tables';
import { systemClock, type Clock } from '../clock';
import { withDeadline } from '../storage/deadline';
import { isConflict, isNotFound, isPreconditionFailed } from '../storage/errors';
import { CONFLICTS, retryOnRace } from '../storage/optimistic';

/**
 * The ResultImports table: one partition per Idempotency-Key (its SHA-256,
 * since a key may hold characters a table key may not), holding the
 * import's state, the fingerprint of its body, a lease while it runs, and
 * once done the response it gave, gzipped in chunks (a response lists every
 * failed line, and one property holds at most 64 KiB).
 */
export type Begin =
  | { kind: 'new'; importId: string }
  /** Its earlier run died (its lease expired): this request carries it on; lines it applied come out as applied again. */
  | { kind: 'resume'; importId: string }
  | { kind: 'replay'; importId: string; response: unknown }
  | { kind: 'in-flight'; importId: string; retryAfterSec: number }
  | { kind: 'mismatch'; importId: string };

const RECORD = 'import';
const CHUNK = 'response.';
const CHUNK_BYTES = 60 * 1024;
/** How long a running import holds its key without a heartbeat; renewed every third of it. */
export const LEASE_MS = 30_000;

export const importIdOf = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

export class ImportLedger {
  constructor(
    private readonly table: TableClient,
    private readonly timeoutMs: number,
    private readonly clock: Clock = systemClock,
  ) {}

  private call<T>(fn: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    return withDeadline(this.timeoutMs, undefined, fn);
  }

  /** Claims the key for this body, or says why not: the stored response, another body, or a run in progress. */
  async begin(key: string, fingerprint: string): Promise<Begin & { etag?: string }> {
    const importId = importIdOf(key);
    return retryOnRace(
      CONFLICTS.LEDGER,
      async () => {
        try {
          const res = await this.call((abortSignal) =>
            this.table.createEntity(
              { partitionKey: importId, rowKey: RECORD, key, fingerprint, state: 'running', leaseUntil: this.clock.now() + LEASE_MS },
              { abortSignal },
            ),
          );
          return { kind: 'new', importId, etag: res.etag } as const;
        } catch (err) {
          if (!isConflict(err)) throw err;
        }
        const e = await this.read(importId);
        if (!e) throw new LedgerRace(importId); // deleted meanwhile (never by us): try to create again
        if (e.fingerprint !== fingerprint) return { kind: 'mismatch', importId } as const;
        if (e.state === 'done') return { kind: 'replay', importId, response: await this.response(importId, Number(e.chunks)) } as const;
        const left = Number(e.leaseUntil) - this.clock.now();
        if (left > 0) return { kind: 'in-flight', importId, retryAfterSec: Math.ceil(left / 1000) } as const;
        return { kind: 'resume', importId, etag: await this.extendLease(importId, e.etag) } as const;
      },
      { retryOn: (err) => err instanceof LedgerRace || isPreconditionFailed(err) },
    );
  }

  /** Extends the lease; returns the new etag, or undefined when someone else took the key over (our run must stop). */
  async renew(importId: string, etag: string): Promise<string | undefined> {
    try {
      return await this.extendLease(importId, etag);
    } catch (err) {
      if (isPreconditionFailed(err) || isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Stores the response, then marks the import done (a crash in between: the next request with the key runs it again, harmlessly). */
  async complete(importId: string, etag: string, response: unknown): Promise<void> {
    const zipped = gzipSync(Buffer.from(JSON.stringify(response), 'utf8'));
    const chunks: Buffer[] = [];
    for (let i = 0; i < zipped.length; i += CHUNK_BYTES) chunks.push(zipped.subarray(i, i + CHUNK_BYTES));
    for (let i = 0; i < chunks.length; i += 50) {
      const actions: TransactionAction[] = chunks
        .slice(i, i + 50)
        .map((data, k) => [
          'upsert',
          { partitionKey: importId, rowKey: `${CHUNK}${String(i + k).padStart(6, '0')}`, data: new Uint8Array(data) },
          'Replace',
        ]);
      await this.call((abortSignal) => this.table.submitTransaction(actions, { abortSignal }));
    }
    await this.call((abortSignal) =>
      this.table.updateEntity(
        { partitionKey: importId, rowKey: RECORD, state: 'done', chunks: chunks.length, doneAt: new Date(this.clock.now()).toISOString() },
        'Merge',
        {
          etag,
          abortSignal,
        },
      ),
    );
  }

  /** Gives the key up after a failure that applied nothing (a bad file): the same key may then be used again. */
  async abandon(importId: string, etag: string): Promise<void> {
    try {
      await this.call((abortSignal) => this.table.deleteEntity(importId, RECORD, { etag, abortSignal }));
    } catch (err) {
      if (!isNotFound(err) && !isPreconditionFailed(err)) throw err;
    }
  }

  /** The lease runs LEASE_MS from now, conditional on the etag held (a 412: someone else has the key). */
  private async extendLease(importId: string, etag: string): Promise<string | undefined> {
    const res = await this.call((abortSignal) =>
      this.table.updateEntity({ partitionKey: importId, rowKey: RECORD, leaseUntil: this.clock.now() + LEASE_MS }, 'Merge', {
        etag,
        abortSignal,
      }),
    );
    return res.etag;
  }

  private async read(importId: string): Promise<(Record<string, unknown> & { etag: string }) | undefined> {
    try {
      return await this.call((abortSignal) => this.table.getEntity<Record<string, unknown>>(importId, RECORD, { abortSignal }));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async response(importId: string, count: number): Promise<unknown> {
    const parts: Buffer[] = [];
    const filter = odata`PartitionKey eq ${importId} and RowKey ge ${CHUNK} and RowKey lt ${'response/'}`;
    await this.call(async (abortSignal) => {
      for await (const e of this.table.listEntities<{ data: Uint8Array }>({ queryOptions: { filter }, abortSignal }))
        parts.push(Buffer.from(e.data));
    });
    if (parts.length !== count) throw new Error(`import ${importId}: stored response has ${parts.length} of ${count} parts`);
    return JSON.parse(gunzipSync(Buffer.concat(parts)).toString('utf8')) as unknown;
  }
}

/** The key's record vanished between our create (409) and our read: another request's race, tried again. */
class LedgerRace extends Error {
  override name = 'LedgerRace';
  constructor(importId: string) {
    super(`the ledger record of import ${importId} changed while it was claimed`);
  }
}
