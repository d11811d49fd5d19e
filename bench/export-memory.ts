import { request } from 'node:http';
import { downloadRowCount } from './export';
import { scrapeCounter, spawnService, type ServerProcess } from './server-process';
import { benchClients, benchNames, round, seedPartition, serverEnv, sleep, timed, type BenchContext } from './support';

export interface ExportMemoryResult {
  growth_mb_10k: number;
  growth_mb_40k: number;
}

export interface SlowClientCheck {
  bytesPerS: number;
  seconds: number;
  rssSpanMb: number;
  partitionRows: number;
  rowsRead: number;
  rowsReceived: number;
  /** Rows the server read from the table in the second half, against rows the client took in that time. */
  lateRowsRead: number;
  lateRowsReceived: number;
  paused: boolean;
}

const WARM_DATE = '2026-11-22';
const DATE = '2026-11-23';
const SLOW_BYTES_PER_S = 64 * 1024;
const PAGE = 1000;

/**
 * RSS growth of the server process while it streams one partition, for two
 * sizes: memory must not grow with the partition. Each size has its own
 * table (Azurite inserts slow down as a table grows) and its own server.
 */
export async function benchExportMemory(ctx: BenchContext): Promise<{ result: ExportMemoryResult; slow: SlowClientCheck }> {
  const [small, large] = ctx.quick ? [1_000, 4_000] : [10_000, 40_000];
  const growthSmall = await withSeededServer(ctx, small, (s) => streamGrowth(ctx, s, small));
  let slow: SlowClientCheck | undefined;
  const growthLarge = await withSeededServer(ctx, large, async (s) => {
    const growth = await streamGrowth(ctx, s, large);
    slow = await slowClient(ctx, s, large, ctx.quick ? 4 : 12);
    return growth;
  });
  return { result: { growth_mb_10k: growthSmall, growth_mb_40k: growthLarge }, slow: slow! };
}

async function withSeededServer<T>(ctx: BenchContext, rows: number, fn: (s: ServerProcess) => Promise<T>): Promise<T> {
  const names = benchNames('m');
  const clients = await benchClients(ctx, names);
  ctx.say(`export_memory: seeding ${rows} rows`);
  const seeded = await timed(async () => {
    await seedPartition(clients.exports, WARM_DATE, PAGE);
    await seedPartition(clients.exports, DATE, rows);
  });
  ctx.say(`export_memory: seeded at ${Math.round((rows + PAGE) / seeded.seconds)} rows/s`);
  const server = await spawnService(serverEnv(ctx, names));
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

/** Warm the server on a one-page partition, then stream the big one while sampling RSS: peak minus settled baseline. */
async function streamGrowth(ctx: BenchContext, server: ServerProcess, rows: number): Promise<number> {
  for (let i = 0; i < 3; i++) await downloadRowCount(`${server.url}/exports/${WARM_DATE}`, ctx.user.authorization);
  await sleep(1000);
  const baseline = server.rssMb();
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, server.rssMb())), 20);
  try {
    const n = await downloadRowCount(`${server.url}/exports/${DATE}`, ctx.user.authorization);
    if (n !== rows) throw new Error(`export returned ${n} rows, expected ${rows}`);
  } finally {
    clearInterval(sampler);
  }
  peak = Math.max(peak, server.rssMb());
  const growth = round(peak - baseline, 1);
  ctx.say(`export_memory: ${rows} rows: baseline ${round(baseline, 1)} MB, peak ${round(peak, 1)} MB, growth ${growth} MB`);
  return growth;
}

/** A client that reads at 64 KB/s: the server's RSS should stay flat and its table reads should follow the client. */
async function slowClient(ctx: BenchContext, server: ServerProcess, partitionRows: number, seconds: number): Promise<SlowClientCheck> {
  const rowsRead = () => scrapeCounter(server.url, ctx.user.authorization, 'export_rows_streamed_total');
  const before = await rowsRead();
  let received = 0;
  let lines = 0;
  const rss: number[] = [];
  const req = request(`${server.url}/exports/${DATE}`, { headers: { authorization: ctx.user.authorization } });
  const started = performance.now();
  req.on('response', (res) => {
    res.on('data', (chunk: Buffer) => {
      received += chunk.length;
      for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) lines++;
      // Token bucket: pause until the bytes taken so far are "paid for" at the target rate.
      const aheadMs = (received / SLOW_BYTES_PER_S) * 1000 - (performance.now() - started);
      if (aheadMs > 0) {
        res.pause();
        setTimeout(() => res.resume(), aheadMs);
      }
    });
    res.on('error', () => undefined);
  });
  req.on('error', () => undefined);
  req.end();

  const sampler = setInterval(() => rss.push(server.rssMb()), 250);
  await sleep((seconds * 1000) / 2);
  const [midRead, midLines] = [(await rowsRead()) - before, lines];
  await sleep((seconds * 1000) / 2);
  const [endRead, endLines] = [(await rowsRead()) - before, lines];
  clearInterval(sampler);
  req.destroy();

  // Ignore the first second: socket buffers and the first pages fill then, by design.
  const settled = rss.slice(4);
  const rssSpanMb = round(Math.max(...settled) - Math.min(...settled), 1);
  const lateRowsRead = endRead - midRead;
  const lateRowsReceived = endLines - midLines;
  // Paused: the read never ran ahead to the end of the partition, and late reads track the client within a couple of pages.
  const paused = endRead < partitionRows && lateRowsRead <= lateRowsReceived + 2 * PAGE;
  const check = { bytesPerS: SLOW_BYTES_PER_S, seconds, rssSpanMb, partitionRows, rowsRead: endRead, rowsReceived: Math.max(0, endLines - 1), lateRowsRead, lateRowsReceived, paused };
  ctx.say(`export_memory: slow client: ${JSON.stringify(check)}`);
  return check;
}
