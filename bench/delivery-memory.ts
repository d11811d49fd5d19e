import { randomBytes } from 'node:crypto';
import { DATE, type ExportFixture } from './export-fixture';
import { spawnService } from './server-process';
import { serverEnv, sleep, type BenchContext } from './support';

export interface DeliveryMemoryResult {
  /** Rows in the delivered files (the closed day and its late rows). */
  rows: number;
  /** Files the day is delivered as (the first, and one of late rows if any), one at a time (DELIVERY_CONCURRENCY=1). */
  files: number;
  /** Server RSS, peak over the settled baseline, while it redelivered the day `deliveries` times. */
  growth_mb: number;
  deliveries: number;
}

const TARGET = 'mem';

/**
 * delivery.server_rss_growth_mb: memory of a real `serve` process while it
 * delivers a closed day, measured as export_memory measures a pull. The
 * server delivers the day once at start (JIT, SDK clients, the container:
 * the warm-up), settles, then an admin redelivers it again and again while
 * its RSS is sampled every 20 ms. A file is streamed from the table through
 * the hash to the upload, so the figure must not grow with the day.
 */
export async function deliveryMemory(ctx: BenchContext, fixture: ExportFixture, times: number): Promise<DeliveryMemoryResult> {
  const target = {
    name: TARGET,
    kind: 'blob',
    layout: 'v1',
    container: `bench-mem-${randomBytes(4).toString('hex')}`,
    path: '{date}/{layout}-{date}.{from}-{through}.csv',
    encryption: { kind: 'none' },
    connectionString: ctx.connectionString,
  };
  const server = await spawnService(
    serverEnv(ctx, fixture.names, {
      DELIVERY_TARGETS: JSON.stringify([target]),
      DELIVERY_LOOKBACK_DAYS: '366',
      DELIVERY_INTERVAL_MS: '3600000',
      EXPORT_CLOSE_INTERVAL_MS: '3600000',
    }),
  );
  const api = async (method: string, path: string): Promise<unknown> => {
    const res = await fetch(`${server.url}${path}`, { method, headers: { authorization: ctx.user.authorization } });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const delivered = async (): Promise<Array<{ seq: { through: number } }>> =>
    ((await api('GET', `/deliveries?date=${DATE}&target=${TARGET}&state=delivered`)) as { deliveries: Array<{ seq: { through: number } }> })
      .deliveries;
  const until = async (n: number) => {
    for (let waited = 0; (await delivered()).length < n; waited += 200) {
      if (waited > 600_000) throw new Error(`delivery memory: ${n} deliveries not done within 10 minutes`);
      await sleep(200);
    }
  };
  try {
    await until(1); // the first delivery, at start: the warm-up
    await sleep(1000);
    const baseline = server.rssMb();
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, server.rssMb())), 20);
    try {
      for (let i = 1; i <= times; i++) {
        await api('POST', `/deliveries/${TARGET}/${DATE}/redeliver`);
        await until(i + 1);
      }
    } finally {
      clearInterval(sampler);
    }
    // The day as the earlier steps left it: in a full run it closed at 10,000 rows and grew to 40,000, so it is two files.
    const all = await delivered();
    const files = all.length / (times + 1);
    const rows = Math.max(...all.map((d) => d.seq.through));
    ctx.say(
      `delivery memory: ${times} redeliveries of ${rows} rows in ${files} file(s), server RSS ${baseline.toFixed(1)} → peak ${peak.toFixed(1)} MB`,
    );
    return { rows, files, growth_mb: peak - baseline, deliveries: times };
  } finally {
    await server.stop();
  }
}
