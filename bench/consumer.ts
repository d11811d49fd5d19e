import { randomUUID } from 'node:crypto';
import { odata } from '@azure/data-tables';
import type { DequeuedMessageItem } from '@azure/storage-queue';
import { loadConfig } from '../src/config';
import { mapLimit } from '../src/map-limit';
import { encodeApproval } from '../src/expenses/approval-message';
import { formatMinor } from '../src/money/money';
import type { StorageClients } from '../src/storage/clients';
import { startAzurite } from '../src/storage/embedded-azurite';
import { cpuMs, firstChildPid } from './server-process';
import { benchClients, benchNames, benchServices, median, sleep, timed, type BenchContext, type BenchNames } from './support';

const LEVELS = [1, 8, 16] as const;
const DEFAULT_LEVEL_PAIRS = 3;
export const DEFAULT_CONCURRENCY = loadConfig({ AZURITE_IN_MEMORY: 'true' }).CONSUMER_CONCURRENCY;

export interface ConsumerResult {
  msgs_per_s: Record<string, number>;
  raw_msgs_per_s: Record<string, number>;
  /** The median of round_ratios. */
  ratio: number;
  /** real / raw of each pair drained at the default concurrency. */
  round_ratios: number[];
  /** The real consumer's manifest retries (HTTP 412: another writer moved it) per 1,000 rows, by concurrency. */
  manifest_412_per_1000: Record<string, number>;
}

const DATE = '2026-11-23';
const SEED_PARALLEL = 16;

/**
 * The real consumer (createServices wiring: leases, deadlines, logging,
 * metrics) against a raw loop of the same six storage calls per message, at
 * the same concurrency and the same starting queue depth. Every run gets an
 * Azurite of its own, seeded alike: Azurite's queue work grows with the
 * messages it holds and its extent garbage, so a run on an Azurite that
 * earlier runs have used is slower by an amount that depends on them.
 */
export async function benchConsumer(ctx: BenchContext): Promise<ConsumerResult> {
  const n = ctx.quick ? 200 : 3000;
  const ids = Array.from({ length: n }, () => randomUUID());
  const result: ConsumerResult = { msgs_per_s: {}, raw_msgs_per_s: {}, ratio: NaN, round_ratios: [], manifest_412_per_1000: {} };
  let round = 0;
  for (const c of LEVELS) {
    const rates = { real: [] as number[], raw: [] as number[] };
    // The default level decides the target, and one drain of each moves by up to a third from run to run
    // (Azurite's CPU per message varies that much between fresh instances): take the median of several pairs.
    const pairs = c === DEFAULT_CONCURRENCY && !ctx.quick ? DEFAULT_LEVEL_PAIRS : 1;
    for (let p = 0; p < pairs; p++, round++) {
      // Alternate which goes first, so slow drift on a shared machine does not always favour one side.
      const order = round % 2 === 0 ? (['real', 'raw'] as const) : (['raw', 'real'] as const);
      for (const mode of order) {
        const { rate, conflicts } = await drainOnce(ctx, mode, c, ids);
        rates[mode].push(rate);
        if (conflicts !== undefined) result.manifest_412_per_1000[String(c)] = (1000 * conflicts) / n;
      }
      if (c === DEFAULT_CONCURRENCY) result.round_ratios.push(rates.real[p] / rates.raw[p]);
    }
    result.msgs_per_s[String(c)] = median(rates.real);
    result.raw_msgs_per_s[String(c)] = median(rates.raw);
  }
  result.ratio = median(result.round_ratios);
  return result;
}

/** One drain of n messages on an Azurite of its own; the real consumer also reports its manifest conflicts. */
async function drainOnce(
  ctx: BenchContext,
  mode: 'real' | 'raw',
  c: number,
  ids: readonly string[],
): Promise<{ rate: number; conflicts?: number }> {
  const n = ids.length;
  const azurite = await startAzurite({ inMemory: true, watchdog: true });
  try {
    const names = benchNames('c');
    const clients = await benchClients(azurite.connectionString, names);
    const seeded = await timed(() => seed(clients, ids));
    const azuritePid = firstChildPid(azurite.pid);
    const [cpu0, az0] = [process.cpuUsage(), cpuMs(azuritePid)];
    const { value: real, seconds } = await timed(() =>
      mode === 'real' ? drainReal(clients, names, c, n) : drainRaw(clients, c, n).then(() => undefined),
    );
    const cpu = process.cpuUsage(cpu0);
    const rate = n / seconds;
    const [ours, az] = [(cpu.user + cpu.system) / n, ((cpuMs(azuritePid) - az0) * 1000) / n];
    ctx.say(
      `consumer: concurrency ${c}, ${mode}: ${Math.round(rate)} msgs/s (seeded in ${Math.round(seeded.seconds)} s); ` +
        `CPU per message: consumer ${Math.round(ours)} µs, Azurite ${Math.round(az)} µs` +
        (real ? `; retried ${real.retried}, manifest 412s ${real.conflicts}` : ''),
    );
    return { rate, conflicts: real?.conflicts };
  } finally {
    await azurite.stop();
  }
}

/** Items, approved expenses, then one message each: the state a burst of approvals leaves behind. */
async function seed(c: StorageClients, ids: readonly string[]): Promise<void> {
  await mapLimit(ids, SEED_PARALLEL, (id) =>
    c.items.submitTransaction([
      ['create', { partitionKey: id, rowKey: '0000', description: 'Taxi', amountMinor: '1230' }],
      ['create', { partitionKey: id, rowKey: '0001', description: 'Tip', amountMinor: '20' }],
    ]),
  );
  await seedApproved(c, ids);
}

async function seedApproved(c: StorageClients, ids: readonly string[]): Promise<void> {
  const approvedAt = `${DATE}T09:00:00.000Z`;
  await mapLimit(ids, SEED_PARALLEL, async (id) => {
    await c.expenses.createEntity({
      partitionKey: id,
      rowKey: 'expense',
      employee: 'Ada Lovelace',
      costCenter: 'CC-100',
      reimbursementMethod: 'direct_deposit',
      currency: 'USD',
      state: 'approved',
      createdAt: approvedAt,
      approvedAt,
      approver: 'approver',
      approvalDate: DATE,
    });
  });
  await mapLimit(ids, SEED_PARALLEL, async (id) => {
    await c.queue.sendMessage(encodeApproval({ expenseId: id, approvalDate: DATE }), { messageTimeToLive: -1 });
  });
}

/** Drains with the real consumer; returns its manifest conflicts (412s) and the messages it gave back to retry. */
async function drainReal(
  clients: StorageClients,
  names: BenchNames,
  concurrency: number,
  n: number,
): Promise<{ conflicts: number; retried: number }> {
  const { services: s, metrics } = benchServices(clients, { CONSUMER_CONCURRENCY: String(concurrency), ...stringEnv(names) });
  const conflicts = async () => ({
    conflicts: (await metrics.manifestConflicts.get()).values[0]?.value ?? 0,
    retried: (await metrics.messages.get()).values.find((v) => v.labels.outcome === 'retried')?.value ?? 0,
  });
  s.consumer.start();
  const deadline = performance.now() + 10 * 60_000;
  let lastDepthCheck = performance.now();
  try {
    // Done when every message is deleted: one that failed (say, a storage deadline under load) is retried
    // by the consumer after its backoff, and that time is part of what the real consumer costs.
    for (;;) {
      const settled = (await metrics.messages.get()).values;
      const count = (outcome: string) => settled.find((v) => v.labels.outcome === outcome)?.value ?? 0;
      if (count('deleted') >= n) return await conflicts();
      // A delete that timed out after the service did it counts as retried, yet the message is gone.
      if (performance.now() - lastDepthCheck > 500) {
        lastDepthCheck = performance.now();
        if (s.consumer.inFlight === 0 && (await clients.queue.getProperties()).approximateMessagesCount === 0) return await conflicts();
      }
      if (count('poisoned') > 0 || count('lost') > 0 || performance.now() > deadline) {
        throw new Error(`consumer did not drain the queue: ${JSON.stringify(settled)}`);
      }
      await sleep(10);
    }
  } finally {
    await s.consumer.stop(5000);
  }
}

function stringEnv(names: BenchNames): Record<string, string> {
  return Object.fromEntries(
    Object.entries(names)
      .filter(([k]) => k === k.toUpperCase())
      .map(([k, v]) => [k, String(v)]),
  );
}

/** The floor: the same storage calls with nothing around them (no deadlines, leases, validation, logs or metrics). */
async function drainRaw(c: StorageClients, concurrency: number, n: number): Promise<void> {
  const buffer: DequeuedMessageItem[] = [];
  let refilling: Promise<void> | undefined;
  let done = 0;
  const refill = () =>
    (refilling ??= c.queue
      .receiveMessages({ numberOfMessages: 32, visibilityTimeout: 30 })
      .then((r) => void buffer.push(...r.receivedMessageItems))
      .finally(() => (refilling = undefined)));

  const handle = async (m: DequeuedMessageItem) => {
    const { expenseId, approvalDate } = JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8')) as {
      expenseId: string;
      approvalDate: string;
    };
    const e = await c.expenses.getEntity<Record<string, string>>(expenseId, 'expense');
    let total = 0n;
    const pages = c.items
      .listEntities<{ amountMinor: string }>({
        queryOptions: { filter: odata`PartitionKey eq ${expenseId}`, select: ['RowKey', 'description', 'amountMinor'] },
      })
      .byPage({ maxPageSize: 1000 });
    for await (const page of pages) for (const item of page) total += BigInt(item.amountMinor);
    const fields = {
      employee: e.employee,
      costCenter: e.costCenter,
      reimbursementMethod: e.reimbursementMethod,
      currency: e.currency,
      approvedAt: e.approvedAt,
      approver: e.approver,
    };
    await c.exports.createEntity({ partitionKey: approvalDate, rowKey: expenseId, ...fields, amount: formatMinor(total, e.currency) });
    await c.expenses.updateEntity(
      {
        partitionKey: expenseId,
        rowKey: 'expense',
        ...fields,
        state: 'processing',
        createdAt: e.createdAt,
        approvalDate: e.approvalDate,
      },
      'Replace',
      { etag: e.etag },
    );
    await c.queue.deleteMessage(m.messageId, m.popReceipt);
  };

  const worker = async () => {
    while (done < n) {
      const m = buffer.shift();
      if (!m) {
        await refill();
        if (buffer.length === 0 && done < n) await sleep(5); // the rest is in other workers' hands
        continue;
      }
      await handle(m);
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
