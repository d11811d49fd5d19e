import { request } from 'node:http';
import { downloadRowCount } from './export';
import { DATE, PAGE, WARM_DATE, type ExportFixture } from './export-fixture';
import { scrapeCounter, spawnService, type ServerProcess } from './server-process';
import { round, serverEnv, sleep, type BenchContext } from './support';

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
  /** In the second half, while rows were left to read: rows the server read, against rows the client took. */
  lateRowsRead: number;
  lateRowsReceived: number;
  paused: boolean;
}

const SLOW_BYTES_PER_S = 64 * 1024;

/**
 * RSS growth of a freshly started server process while it streams the
 * partition: memory must not grow with the partition's size. Called at 10k
 * and at 40k rows, each time with its own server.
 */
export async function memoryGrowth(
  ctx: BenchContext,
  fixture: ExportFixture,
  rows: number,
  slowSeconds?: number,
): Promise<{ growth: number; slow?: SlowClientCheck }> {
  await fixture.grow(rows);
  const server = await spawnService(serverEnv(ctx, fixture.names));
  try {
    const growth = await streamGrowth(ctx, server, rows);
    return { growth, slow: slowSeconds ? await slowClient(ctx, server, rows, slowSeconds) : undefined };
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

/**
 * A client that reads at 64 KB/s: the server's RSS should stay flat and its
 * table reads should stop until the client catches up. The kernel alone
 * buffers a few MB of a socket (tcp_wmem), so the server reads fast for the
 * first seconds by design; in the second half, while rows are left to read,
 * it may read only what the client took plus the page in hand and the one
 * read ahead.
 */
async function slowClient(ctx: BenchContext, server: ServerProcess, partitionRows: number, seconds: number): Promise<SlowClientCheck> {
  const rowsRead = () => scrapeCounter(server.url, ctx.user.authorization, 'export_rows_streamed_total');
  const before = await rowsRead();
  let received = 0;
  let lines = 0;
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

  const samples: Array<{ t: number; read: number; got: number; rss: number }> = [];
  while (performance.now() - started < seconds * 1000) {
    await sleep(500);
    samples.push({ t: performance.now() - started, read: (await rowsRead()) - before, got: Math.max(0, lines - 1), rss: server.rssMb() });
  }
  req.destroy();

  // The socket buffers fill in the first seconds (here ~2.5 s); judge the second half, while rows are left to read.
  const settled = samples.filter((x) => x.t >= (seconds * 1000) / 2);
  const rss = settled.map((x) => x.rss);
  const open = settled.filter((x) => x.read < partitionRows);
  const [first, last] = [open[0], open.at(-1)];
  const lateRowsRead = first && last ? last.read - first.read : NaN;
  const lateRowsReceived = first && last ? last.got - first.got : NaN;
  const paused = open.length >= 2 && lateRowsRead <= lateRowsReceived + 2 * PAGE;
  const end = samples.at(-1)!;
  const check = {
    bytesPerS: SLOW_BYTES_PER_S,
    seconds,
    rssSpanMb: round(Math.max(...rss) - Math.min(...rss), 1),
    partitionRows,
    rowsRead: end.read,
    rowsReceived: end.got,
    lateRowsRead,
    lateRowsReceived,
    paused,
  };
  const progress = samples.map((x) => `${(x.t / 1000).toFixed(1)}s ${x.read}/${x.got}`).join(', ');
  ctx.say(`export_memory: slow client: ${JSON.stringify(check)}; rows read/received: ${progress}`);
  return check;
}
