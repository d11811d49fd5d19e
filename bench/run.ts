/**
 * `npm run bench [-- --quick]`: every figure against a baseline measured in
 * the same run on the same fresh in-memory Azurite, because absolute numbers
 * on a shared machine mean little. --quick only proves the bench still runs
 * (CI); its figures are not judged.
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { startAzurite } from '../src/storage/embedded-azurite';
import { projectFile } from '../src/project-root';
import { benchUser, type BenchContext } from './support';
import { firstChildPid } from './server-process';
import { benchExport } from './export';
import { benchLayouts } from './layouts';
import { memoryGrowth, type SlowClientCheck } from './export-memory';
import { exportFixture, type ExportFixture } from './export-fixture';
import { benchConsumer, DEFAULT_CONCURRENCY } from './consumer';
import { benchLag } from './lag';
import { benchHttp, type HttpCpu } from './http';
import { benchResults } from './results';
import { benchUpgrade } from './upgrade';
import { benchDelivery } from './delivery';
import { rounded, table, type BenchResults } from './report';

async function main(): Promise<number> {
  const quick = process.argv.includes('--quick');
  // --only=export,lag runs a subset: for working on one figure, never for BENCHMARKS.md.
  const only = process.argv
    .find((a) => a.startsWith('--only='))
    ?.slice('--only='.length)
    .split(',');
  const started = performance.now();
  const say = (m: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(3)}s] ${m}\n`);
  say(`${quick ? 'quick smoke run' : 'full run'}: ${cpus().length} CPUs, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`);

  // A watchdog'd child: even if the bench is killed, Azurite does not outlive it.
  const azurite = await startAzurite({ inMemory: true, watchdog: true });
  const ctx: BenchContext = {
    connectionString: azurite.connectionString,
    azuritePid: firstChildPid(azurite.pid),
    quick,
    user: await benchUser(),
    say,
  };
  const results: BenchResults = {};
  let slow: SlowClientCheck | undefined;
  let httpCpu: HttpCpu | undefined;
  const failures: string[] = [];
  const step = async (name: string, fn: () => Promise<void>) => {
    if (only && !only.includes(name)) return;
    say(`${name}: start`);
    try {
      await fn();
    } catch (err) {
      failures.push(`${name}: ${(err as Error).stack ?? String(err)}`);
      say(`${name}: FAILED: ${(err as Error).message}`);
    }
  };
  try {
    // One partition, grown from step to step: 10k (memory), 20k (throughput), 40k (memory, slow client).
    let fixture: ExportFixture | undefined;
    const exports = async () => (fixture ??= await exportFixture(ctx));
    const memory: Partial<NonNullable<BenchResults['export_memory']>> = {};
    await step(
      'export_memory',
      async () => void (memory.growth_mb_10k = (await memoryGrowth(ctx, await exports(), quick ? 1_000 : 10_000)).growth),
    );
    await step('export', async () => void (results.export = await benchExport(ctx, await exports())));
    await step('layout', async () => void (results.layout = await benchLayouts(ctx, await exports())));
    await step('export_memory', async () => {
      const m = await memoryGrowth(ctx, await exports(), quick ? 4_000 : 40_000, quick ? 4 : 8);
      memory.growth_mb_40k = m.growth;
      slow = m.slow;
    });
    if (memory.growth_mb_10k !== undefined && memory.growth_mb_40k !== undefined) {
      results.export_memory = { growth_mb_10k: memory.growth_mb_10k, growth_mb_40k: memory.growth_mb_40k };
    }
    // Last of the export steps: it closes the partition's day.
    await step('delivery', async () => void (results.delivery = await benchDelivery(ctx, await exports())));
    await step('consumer', async () => void (results.consumer = await benchConsumer(ctx)));
    await step('lag', async () => void (results.lag = await benchLag(ctx)));
    await step('results', async () => void (results.results = await benchResults(ctx)));
    await step('upgrade', async () => void (results.upgrade = await benchUpgrade(ctx)));
    await step('http', async () => {
      const h = await benchHttp(ctx);
      results.http = h.result;
      httpCpu = h.cpu;
    });
  } finally {
    await azurite.stop();
  }

  const json = rounded(results);
  writeFileSync(projectFile('bench-results.json'), `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(`\n${table(results, { slow, httpCpu, defaultConcurrency: DEFAULT_CONCURRENCY, quick })}\n\n`);
  say(
    `done in ${((performance.now() - started) / 1000).toFixed(0)} s; wrote bench-results.json${quick ? ' (quick: figures not judged)' : ''}`,
  );
  for (const f of failures) process.stderr.write(`\n${f}\n`);
  return failures.length > 0 ? 1 : 0;
}

// Turn signals into a normal exit, so the exit hooks stop spawned servers (Azurite's watchdog sees us go).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
