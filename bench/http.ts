import autocannon from 'autocannon';
import type { StorageClients } from '../src/storage/clients';
import { cpuMs, spawnHelloServer, spawnService } from './server-process';
import { benchClients, benchExportTable, benchNames, seedPartition, serverEnv, sleep, type BenchContext } from './support';

export interface HttpResult {
  req_per_s: number;
  baseline_req_per_s: number;
  ratio: number;
  p99_ms: number;
  /** Conditional GETs answered 304 (If-None-Match with the current ETag), per second. */
  poll_req_per_s: number;
  /** A raw SDK loop point-reading the same day's manifest, at the same concurrency. */
  raw_manifest_reads_per_s: number;
  poll_ratio: number;
}

/** Where each request's CPU went, to say what limits the ratio (not part of bench-results.json). */
export interface HttpCpu {
  serverUsPerReq: number;
  azuriteUsPerReq: number;
  baselineUsPerReq: number;
  /** The 304 path: our server's CPU per conditional GET, and Azurite's. */
  pollServerUsPerReq: number;
  pollAzuriteUsPerReq: number;
  /** The raw point-read loop: the SDK's CPU per read in this process, and Azurite's. */
  rawClientUsPerRead: number;
  rawAzuriteUsPerRead: number;
}

const DATE = '2026-11-23';
const ROWS = 20;
const CONNECTIONS = 50;

/**
 * Request overhead of the export route (auth, helmet, validation, logging,
 * one small table query) against a bare Express hello-world on the same
 * machine in the same run. Both servers are separate processes; autocannon
 * runs here.
 */
export async function benchHttp(ctx: BenchContext): Promise<{ result: HttpResult; cpu: HttpCpu }> {
  const seconds = ctx.quick ? 2 : 10;
  const names = benchNames('h');
  const clients = await benchClients(ctx.connectionString, names);
  await seedPartition(benchExportTable(clients), DATE, ROWS);
  // The export caps (8 overall, 2 per user) would turn most of 50 connections into cheap 429s; this
  // measures served exports, so the server is configured for the load, as an operator would. Twice the
  // connections: requests of a finished autocannon run may still be draining when the next one starts.
  const cap = String(2 * CONNECTIONS);
  const service = await spawnService(serverEnv(ctx, names, { EXPORT_MAX_CONCURRENT: cap, EXPORT_MAX_CONCURRENT_PER_USER: cap }));
  const hello = await spawnHelloServer();
  try {
    const exportOpts = { url: `${service.url}/exports/${DATE}`, headers: { authorization: ctx.user.authorization } };
    await cannon(exportOpts, 1); // warm both: JIT, sockets, the auth cache
    await cannon({ url: hello.url }, 1);
    const baseline = await measured(() => cannon({ url: hello.url }, seconds), [hello.pid]);
    ctx.say(`http: baseline ${Math.round(baseline.r.requests.average)} req/s`);
    const a = await measured(() => cannon(exportOpts, seconds), [service.pid, ctx.azuritePid]);
    ctx.say(`http: export ${Math.round(a.r.requests.average)} req/s, p99 ${a.r.latency.p99} ms`);
    const [req, base] = [a.r.requests.average, baseline.r.requests.average];

    // Polling for change: what the on-premises system does between pulls. Our whole stack (HTTP, auth,
    // validation, logging, the manifest read) against the storage call alone, at the same concurrency.
    const etag = (await fetch(exportOpts.url, { headers: exportOpts.headers })).headers.get('etag')!;
    const pollOpts = { ...exportOpts, headers: { ...exportOpts.headers, 'if-none-match': etag } };
    await cannon(pollOpts, 1, 304);
    const poll = await measured(() => cannon(pollOpts, seconds, 304), [service.pid, ctx.azuritePid]);
    const azurite0 = cpuMs(ctx.azuritePid);
    const raw = await rawManifestReads(clients, seconds);
    const rawAzuriteUs = ((cpuMs(ctx.azuritePid) - azurite0) * 1000) / raw.reads;
    ctx.say(`http: poll ${Math.round(poll.r.requests.average)} req/s (304), raw manifest reads ${Math.round(raw.perS)} /s`);
    return {
      result: {
        req_per_s: req,
        baseline_req_per_s: base,
        ratio: req / base,
        p99_ms: a.r.latency.p99,
        poll_req_per_s: poll.r.requests.average,
        raw_manifest_reads_per_s: raw.perS,
        poll_ratio: poll.r.requests.average / raw.perS,
      },
      cpu: {
        serverUsPerReq: a.usPerReq[0],
        azuriteUsPerReq: a.usPerReq[1],
        baselineUsPerReq: baseline.usPerReq[0],
        pollServerUsPerReq: poll.usPerReq[0],
        pollAzuriteUsPerReq: poll.usPerReq[1],
        rawClientUsPerRead: raw.clientUs,
        rawAzuriteUsPerRead: rawAzuriteUs,
      },
    };
  } finally {
    await Promise.all([service.stop(), hello.stop()]);
  }
}

/** Runs one load test and charges the CPU each given process used to the requests served. */
async function measured(run: () => Promise<autocannon.Result>, pids: number[]): Promise<{ r: autocannon.Result; usPerReq: number[] }> {
  await sleep(1000); // let the previous run's requests drain
  const before = pids.map(cpuMs);
  const r = await run();
  return { r, usPerReq: pids.map((pid, i) => ((cpuMs(pid) - before[i]) * 1000) / r.requests.total) };
}

/** A load test in which every response must have `status` (any 2xx by default). */
async function cannon(
  opts: { url: string; headers?: Record<string, string> },
  seconds: number,
  status?: number,
): Promise<autocannon.Result> {
  const r = await autocannon({ ...opts, connections: CONNECTIONS, duration: seconds });
  const wrong = status === undefined ? r.non2xx : r.requests.total - (r.statusCodeStats?.[String(status) as '304']?.count ?? 0);
  if (r.errors > 0 || wrong > 0)
    throw new Error(`${opts.url}: ${r.errors} errors, ${wrong} responses other than ${status ?? '2xx'} of ${r.requests.total}`);
  return r;
}

/** The floor for polling: the same manifest point read, straight through the SDK, CONNECTIONS at a time. */
async function rawManifestReads(clients: StorageClients, seconds: number): Promise<{ perS: number; reads: number; clientUs: number }> {
  const end = performance.now() + seconds * 1000;
  let reads = 0;
  const worker = async () => {
    while (performance.now() < end) {
      await clients.exports.getEntity(DATE, '~manifest');
      reads++;
    }
  };
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  const cpu = process.cpuUsage(cpu0);
  return { perS: reads / ((performance.now() - started) / 1000), reads, clientUs: (cpu.user + cpu.system) / reads };
}
