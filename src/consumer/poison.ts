import { createHash } from 'node:crypto';
import type { AzureQueue } from '../storage/azure-queue';
import { withDeadline } from '../storage/deadline';
import type { PoisonSink, QueueMessage } from './queue';

/** The audit line of a discard (who removed which poison messages for good), from the API and the CLI alike. */
export const POISON_DISCARDED_LOG = 'poison messages discarded';

/** What we keep of a message we gave up on: the original body, untouched, and why. */
export interface PoisonEnvelope {
  code: string;
  reason: string;
  kind: 'expense-export.poison/v1';
  failedAt: string;
  dequeueCount: number;
  originalMessageId: string;
  body: string;
  insertedOn?: string;
}

/** A discarded entry, as logged: the body itself may be anything, its hash identifies it. */
export interface DiscardedEntry {
  messageId: string;
  code: string;
  bodySha256: string;
}

export interface PoisonEntry extends PoisonEnvelope {
  messageId: string;
}

/**
 * The `<queue>-poison` queue. Unlike WebJobs, which copies only the body, we
 * wrap it in an envelope with the reason, so an admin can see why without
 * digging through logs. The envelope is plain JSON, never re-encoded, so the
 * original body comes back byte for byte on replay.
 */
export class PoisonQueue implements PoisonSink {
  constructor(
    private readonly main: AzureQueue,
    private readonly poison: AzureQueue,
    private readonly timeoutMs: number,
  ) {}

  async add(entry: Omit<PoisonEnvelope, 'kind' | 'failedAt'>, signal?: AbortSignal, now = new Date()): Promise<void> {
    // Code and reason first, the body (of any length) last: tools that show the start of a message
    // (`az storage message peek -o table`, Storage Explorer's list) show why.
    const envelope: PoisonEnvelope = {
      code: entry.code,
      reason: entry.reason,
      kind: 'expense-export.poison/v1',
      failedAt: now.toISOString(),
      dequeueCount: entry.dequeueCount,
      originalMessageId: entry.originalMessageId,
      body: entry.body,
    };
    await withDeadline(this.timeoutMs, signal, (abortSignal) =>
      this.poison.send(JSON.stringify(envelope), { messageTimeToLive: -1, abortSignal }),
    );
  }

  /** Peek only: listing must not hide messages from a concurrent replay. The queue API caps a peek at 32. */
  async list(max = 32, signal?: AbortSignal): Promise<{ entries: PoisonEntry[]; approximateCount: number }> {
    const [peeked, depth] = await Promise.all([this.poison.peek(max, signal), this.poison.depth(signal)]);
    return {
      entries: peeked.map((m) => ({ ...parseEnvelope(m.messageText), messageId: m.messageId, insertedOn: m.insertedOn.toISOString() })),
      approximateCount: Math.max(depth, peeked.length),
    };
  }

  /**
   * Moves up to `max` poisoned messages back to the main queue, send first and
   * delete second: a crash in between duplicates a message (harmless, the
   * consumer is idempotent) but never loses one.
   */
  async replay(
    max: number,
    messageIds: ReadonlySet<string> | undefined,
    signal?: AbortSignal,
  ): Promise<{ replayed: string[]; skipped: number }> {
    const { taken, skipped } = await this.take(max, messageIds, signal, async (m) => {
      const env = parseEnvelope(m.messageText);
      await withDeadline(this.timeoutMs, signal, (abortSignal) => this.main.send(env.body, { messageTimeToLive: -1, abortSignal }));
      await withDeadline(this.timeoutMs, signal, (abortSignal) => this.poison.delete(m.messageId, m.popReceipt, abortSignal));
    });
    return { replayed: taken, skipped };
  }

  /**
   * Deletes the entries with these ids (reviewed garbage), and says which
   * ids it did not find (gone already, or held by a concurrent replay).
   */
  async discard(messageIds: ReadonlySet<string>, signal?: AbortSignal): Promise<{ discarded: DiscardedEntry[]; notFound: string[] }> {
    const discarded: DiscardedEntry[] = [];
    await this.take(messageIds.size, messageIds, signal, async (m) => {
      const env = parseEnvelope(m.messageText);
      await withDeadline(this.timeoutMs, signal, (abortSignal) => this.poison.delete(m.messageId, m.popReceipt, abortSignal));
      discarded.push({ messageId: m.messageId, code: env.code, bodySha256: createHash('sha256').update(env.body, 'utf8').digest('hex') });
    });
    const found = new Set(discarded.map((d) => d.messageId));
    return { discarded, notFound: [...messageIds].filter((id) => !found.has(id)) };
  }

  /**
   * Receives poison messages and hands up to `max` of them (with `messageIds`,
   * only those) to `handle`, which must delete them. Messages not asked for stay
   * invisible until the scan ends, so the scan moves past them instead of
   * receiving them again; then they are given back at once.
   */
  private async take(
    max: number,
    messageIds: ReadonlySet<string> | undefined,
    signal: AbortSignal | undefined,
    handle: (m: QueueMessage) => Promise<void>,
  ): Promise<{ taken: string[]; skipped: number }> {
    const taken: string[] = [];
    const held: Array<{ messageId: string; popReceipt: string }> = [];
    try {
      while (taken.length < max && held.length < SCAN_LIMIT) {
        const want = messageIds ? 32 : Math.min(32, max - taken.length);
        const batch = await withDeadline(this.timeoutMs, signal, (abortSignal) => this.poison.receive(want, 60, abortSignal));
        if (batch.length === 0) break;
        for (const m of batch) {
          if ((messageIds && !messageIds.has(m.messageId)) || taken.length >= max) {
            held.push(m);
            continue;
          }
          await handle(m);
          taken.push(m.messageId);
        }
        if (messageIds && taken.length >= messageIds.size) break;
      }
    } finally {
      // Best effort: a message we fail to give back reappears when its 60 s visibility ends.
      await Promise.allSettled(
        held.map((m) =>
          withDeadline(this.timeoutMs, undefined, (abortSignal) => this.poison.update(m.messageId, m.popReceipt, 0, abortSignal)),
        ),
      );
    }
    return { taken, skipped: held.length };
  }
}

/** How many unwanted poison messages one replay or discard looks past before it gives up on finding the ids asked for. */
const SCAN_LIMIT = 1000;

/** Messages put on the poison queue by someone else (e.g. WebJobs, or by hand) are plain bodies. */
export function parseEnvelope(text: string): PoisonEnvelope {
  try {
    const v = JSON.parse(text) as Partial<PoisonEnvelope>;
    if (v && v.kind === 'expense-export.poison/v1' && typeof v.body === 'string') return v as PoisonEnvelope;
  } catch {
    // fall through: not ours
  }
  return {
    code: 'foreign',
    reason: 'unknown (not written by expense-export)',
    kind: 'expense-export.poison/v1',
    failedAt: '',
    dequeueCount: 0,
    originalMessageId: '',
    body: text,
  };
}
