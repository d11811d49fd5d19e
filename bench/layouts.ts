import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { DATE, WARM_DATE, type ExportFixture } from './export-fixture';
import { keepAlive, spawnService } from './server-process';
import { median, serverEnv, timed, type BenchContext } from './support';

export interface LayoutBenchResult {
  v1_records_per_s: number;
  delimited_records_per_s: number;
  fixed_records_per_s: number;
  items_records_per_s: number;
  /** excel-de (`;`, decimal comma, DD.MM.YYYY in a zone, Windows-1252) against v1, records per second. */
  delimited_ratio: number;
  /** fixed-width-payroll against v1. */
  fixed_ratio: number;
  /** gl-lines (3 items per expense: 3 records per row) against v1, records per second. */
  items_ratio: number;
  /** The largest server RSS growth of one pull of the day, over a layout's warmed baseline (excel-de, fixed width, gl-lines). */
  rss_growth_mb: number;
}

const LF = 0x0a;

/** Reads a whole body; its line count (every preset ends records with CRLF). */
function lines(url: string, authorization: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, { headers: { authorization }, agent: keepAlive }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`GET ${url}: ${res.statusCode}`));
      }
      let n = 0;
      res.on('data', (chunk: Buffer) => {
        for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) n++;
      });
      res.on('end', () => resolve(n));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/**
 * The presets on the export step's day (20,000 rows, 3 items each), each
 * against v1 in the same rounds, rotated, so that drift hits all alike;
 * ratios are medians of the rounds' own ratios. EXPORT_TIMEZONE is a real
 * zone, so excel-de's dates take the zone path.
 */
export async function benchLayouts(ctx: BenchContext, fixture: ExportFixture): Promise<LayoutBenchResult> {
  const rows = ctx.quick ? 2_000 : 20_000;
  const rounds = ctx.quick ? 1 : 6;
  await fixture.grow(rows);
  const server = await spawnService(serverEnv(ctx, fixture.names, { EXPORT_TIMEZONE: 'Europe/Berlin' }));
  try {
    const layouts = [
      { name: 'v1', header: 1, records: rows },
      { name: 'excel-de', header: 1, records: rows },
      { name: 'fixed-width-payroll', header: 0, records: rows },
      { name: 'gl-lines', header: 1, records: 3 * rows },
    ];
    const pull = async (l: (typeof layouts)[number]) => {
      const { value: n, seconds } = await timed(() => lines(`${server.url}/exports/${DATE}?layout=${l.name}`, ctx.user.authorization));
      if (n - l.header !== l.records) throw new Error(`${l.name} returned ${n - l.header} records, expected ${l.records}`);
      return l.records / seconds;
    };
    for (const l of layouts) await pull(l); // warm
    const rates: number[][] = layouts.map(() => []);
    for (let i = 0; i < rounds; i++) {
      for (let k = 0; k < layouts.length; k++) {
        const j = (i + k) % layouts.length;
        rates[j].push(await pull(layouts[j]));
      }
      ctx.say(`layouts: round ${i + 1}/${rounds}: ${layouts.map((l, j) => `${l.name} ${Math.round(rates[j][i])}/s`).join(', ')}`);
    }
    const ratio = (j: number) => median(rates[j].map((x, i) => x / rates[0][i]));
    return {
      v1_records_per_s: median(rates[0]),
      delimited_records_per_s: median(rates[1]),
      fixed_records_per_s: median(rates[2]),
      items_records_per_s: median(rates[3]),
      delimited_ratio: ratio(1),
      fixed_ratio: ratio(2),
      items_ratio: ratio(3),
      rss_growth_mb: await memoryGrowth(ctx, fixture, layouts.slice(1)),
    };
  } finally {
    await server.stop();
  }
}

/**
 * As export_memory measures v1: for each layout a fresh server, warmed on
 * a one-page day, then one pull of the whole day while its RSS is sampled;
 * the largest growth, peak over settled baseline. (RSS across many pulls
 * in one process mostly shows V8 growing its heap lazily, not what a pull holds.)
 */
async function memoryGrowth(ctx: BenchContext, fixture: ExportFixture, layouts: ReadonlyArray<{ name: string }>): Promise<number> {
  let worst = 0;
  for (const l of layouts) {
    const server = await spawnService(serverEnv(ctx, fixture.names, { EXPORT_TIMEZONE: 'Europe/Berlin' }));
    try {
      for (let i = 0; i < 3; i++) await lines(`${server.url}/exports/${WARM_DATE}?layout=${l.name}`, ctx.user.authorization);
      await sleep(1000);
      const baseline = server.rssMb();
      let peak = baseline;
      const sampler = setInterval(() => (peak = Math.max(peak, server.rssMb())), 20);
      try {
        await lines(`${server.url}/exports/${DATE}?layout=${l.name}`, ctx.user.authorization);
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, server.rssMb());
      ctx.say(`layouts: ${l.name}: server RSS baseline ${Math.round(baseline)} MB, peak ${Math.round(peak)} MB`);
      worst = Math.max(worst, peak - baseline);
    } finally {
      await server.stop();
    }
  }
  return worst;
}
