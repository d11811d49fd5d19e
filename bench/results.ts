import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { mapLimit } from '../src/map-limit';
import type { StorageClients } from '../src/storage/clients';
import { spawnService } from './server-process';
import { benchClients, benchExportTable, benchNames, round, serverEnv, sleep, timed, type BenchContext } from './support';

export interface ResultsBenchResult {
  lines_per_s: number;
  raw_lines_per_s: number;
  ratio: number;
  /** The server's peak RSS importing the measured file, over its peak importing the warm-up file (a tenth the size). */
  rss_growth_mb: number;
  /** The same peak over the RSS of the idle server before any import (information: V8's heap sizing moves it). */
  rss_idle_to_peak_mb: number;
}

const DATE = '2026-11-20';
const AT = '2026-11-30T17:05:00Z';
/** The importer's own concurrency (ResultsImporter's default); the raw loop gets the same. */
const WIDTH = 16;

/**
 * A: POST /results with a file of `paid` lines for exported expenses, in one
 * request, to `expense-export serve` in its own process (auth, streaming to
 * a temporary file, the whole-file pass, the per-line judgement, the ledger).
 * B: a raw SDK loop doing the same reads and conditional writes per line
 * (read the expense, read its export row, one transaction: the expense's
 * new state If-Match plus the result's record) at the same concurrency,
 * on an equal set of expenses.
 */
export async function benchResults(ctx: BenchContext): Promise<ResultsBenchResult> {
  const n = ctx.quick ? 500 : 10_000;
  const names = benchNames('r');
  const clients = await benchClients(ctx.connectionString, names);
  const warm = ctx.quick ? 50 : 1000;
  const [forWarmUp, forHttp, forRaw] = [await seedExported(clients, warm), await seedExported(clients, n), await seedExported(clients, n)];
  ctx.say(`results: seeded ${warm} + 2 × ${n} exported expenses`);

  const server = await spawnService(serverEnv(ctx, names));
  try {
    // Warm-up with a file a tenth the size: JIT, the auth cache, and V8 growing its heap to what an import needs
    // (once, whatever the file's size). The judged figure is the 10,000-line file's peak over the 1,000-line
    // file's: what grows with the file. From idle the figure swings by tens of MB between runs, as V8 hands
    // memory back to the system while the server idles and takes it again under work.
    const idle = server.rssMb();
    const peakDuring = async <T>(work: () => Promise<T>): Promise<{ value: T; seconds: number; peak: number }> => {
      let peak = server.rssMb();
      const sampler = setInterval(() => (peak = Math.max(peak, server.rssMb())), 50);
      try {
        return { ...(await timed(work)), peak };
      } finally {
        clearInterval(sampler);
      }
    };
    const warmPeak = (await peakDuring(() => post(server.url, ctx.user.authorization, fileOf(forWarmUp), 'warm'))).peak;
    await sleep(1000);
    const {
      value: answer,
      seconds,
      peak,
    } = await peakDuring(() => post(server.url, ctx.user.authorization, fileOf(forHttp), randomUUID()));
    const applied = (answer as { counts: { applied: number } }).counts.applied;
    if (applied !== n) throw new Error(`results: ${applied} of ${n} lines applied: ${JSON.stringify(answer).slice(0, 300)}`);
    const raw = await timed(() => rawImport(clients, forRaw));
    const [a, b] = [n / seconds, n / raw.seconds];
    ctx.say(
      `results: http ${Math.round(a)} lines/s, raw ${Math.round(b)} lines/s; server RSS idle ${round(idle, 1)} MB, ` +
        `peak ${round(warmPeak, 1)} MB (${warm} lines) and ${round(peak, 1)} MB (${n} lines)`,
    );
    return { lines_per_s: a, raw_lines_per_s: b, ratio: a / b, rss_growth_mb: peak - warmPeak, rss_idle_to_peak_mb: peak - idle };
  } finally {
    await server.stop();
  }
}

interface Seeded {
  id: string;
  amount: string;
}

/** Exported expenses (state exported, approved on DATE) with their export rows, as the pipeline leaves them. */
async function seedExported(c: StorageClients, n: number): Promise<Seeded[]> {
  const table = benchExportTable(c);
  const out = Array.from({ length: n }, (_, i) => ({ id: randomUUID(), amount: `${(i % 900) + 1}.${String(i % 100).padStart(2, '0')}` }));
  const approvedAt = `${DATE}T09:00:00.000Z`;
  await mapLimit(out, 16, (e) =>
    c.expenses.createEntity({
      partitionKey: e.id,
      rowKey: 'expense',
      employee: 'Ada Lovelace',
      costCenter: 'CC-100',
      reimbursementMethod: 'direct_deposit',
      currency: 'USD',
      state: 'exported',
      createdAt: approvedAt,
      approvedAt,
      approver: 'approver',
      approvalDate: DATE,
      approvalAttempt: 1,
    }),
  );
  for (let i = 0; i < n; i += 990) {
    const chunk = out.slice(i, i + 990);
    await Promise.all(
      chunk.map((e) =>
        table.append({
          partitionKey: DATE,
          rowKey: e.id,
          attempt: 1,
          expenseId: e.id,
          approvedAt,
          approver: 'approver',
          employee: 'Ada Lovelace',
          costCenter: 'CC-100',
          reimbursementMethod: 'direct_deposit',
          currency: 'USD',
          amount: e.amount,
        }),
      ),
    );
  }
  return out;
}

const fileOf = (rows: readonly Seeded[]) =>
  [
    'expense_id,status,amount,currency,status_at,reference,message',
    ...rows.map((r, i) => `${r.id},paid,${r.amount},USD,${AT},CHQ-${i},`),
  ].join('\r\n') + '\r\n';

function post(url: string, authorization: string, body: string, key: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/results`,
      { method: 'POST', headers: { authorization, 'content-type': 'text/csv', 'idempotency-key': key } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () =>
          res.statusCode === 200 ? resolve(JSON.parse(text)) : reject(new Error(`POST /results: ${res.statusCode} ${text.slice(0, 300)}`)),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The floor: the same storage calls per line, nothing around them (no file, no parsing, no ledger, no logs). */
async function rawImport(c: StorageClients, rows: readonly Seeded[]): Promise<void> {
  await mapLimit(rows, WIDTH, async (r, i) => {
    const e = await c.expenses.getEntity<Record<string, unknown>>(r.id, 'expense');
    await c.exports.getEntity(DATE, r.id, { queryOptions: { select: ['currency', 'amount', 'seq'] } });
    const { etag, timestamp: _t, ...fields } = e;
    await c.expenses.submitTransaction([
      ['update', { ...fields, partitionKey: r.id, rowKey: 'expense', state: 'paid' }, 'Replace', { etag }],
      [
        'create',
        {
          partitionKey: r.id,
          rowKey: 'result.0001.paid',
          attempt: 1,
          status: 'paid',
          statusAt: AT,
          reference: `CHQ-${i}`,
          message: '',
          amount: r.amount,
          currency: 'USD',
          appliedAt: new Date().toISOString(),
          importId: 'raw',
        },
      ],
    ]);
  });
}
