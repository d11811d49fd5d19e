import { request } from 'node:http';
import { createGunzip } from 'node:zlib';
import { PAGE_SIZE } from '../src/export/export-pages';
import { ExportTable } from '../src/export/export-table';
import { DATE, type ExportFixture } from './export-fixture';
import { spawnService, keepAlive } from './server-process';
import { median, serverEnv, timed, type BenchContext } from './support';

export interface ExportResult {
  rows_per_s: number;
  raw_rows_per_s: number;
  ratio: number;
  /** The same download with Accept-Encoding: gzip (the client inflates it as it reads). */
  gzip_rows_per_s: number;
  gzip_ratio: number;
  /** Bytes on the wire, plain over gzip. */
  gzip_shrink: number;
}

const NEWLINE = 0x0a;

/**
 * A: the route, as the on-prem system calls it (HTTP, Basic auth, whole body read).
 * B: the SDK alone paging the same partition with the very same query
 *    ($filter, $select, $format) and page size, one page after another.
 * Interleaved round by round, so drift on a noisy machine hits both alike.
 */
export async function benchExport(ctx: BenchContext, fixture: ExportFixture): Promise<ExportResult> {
  const rows = ctx.quick ? 2_000 : 20_000;
  const rounds = ctx.quick ? 1 : 8;
  await fixture.grow(rows);
  const { clients } = fixture;
  const server = await spawnService(serverEnv(ctx, fixture.names));
  try {
    const bytes = { plain: 0, gzip: 0 };
    const viaHttp = async (gzip = false) => {
      const { value: got, seconds } = await timed(() => download(`${server.url}/exports/${DATE}`, ctx.user.authorization, gzip));
      if (got.rows !== rows) throw new Error(`export returned ${got.rows} rows, expected ${rows}`);
      bytes[gzip ? 'gzip' : 'plain'] = got.bytes;
      return got.rows / seconds;
    };
    const raw = async () => {
      const { value: n, seconds } = await timed(async () => {
        let count = 0;
        const pages = clients.exports.listEntities({ queryOptions: ExportTable.query(DATE) }).byPage({ maxPageSize: PAGE_SIZE });
        for await (const page of pages) count += page.length;
        return count;
      });
      if (n !== rows) throw new Error(`raw read returned ${n} rows, expected ${rows}`);
      return n / seconds;
    };
    await viaHttp(); // warm: JIT, sockets, the auth cache
    await viaHttp(true);
    await raw();
    const a: number[] = [];
    const b: number[] = [];
    const g: number[] = [];
    // One download takes about a second, so a burst of other work on the machine can halve one of them:
    // each round rotates which goes first, and the ratios are medians of the rounds' own ratios.
    const steps = [async () => a.push(await viaHttp()), async () => b.push(await raw()), async () => g.push(await viaHttp(true))];
    for (let i = 0; i < rounds; i++) {
      for (let k = 0; k < steps.length; k++) await steps[(i + k) % steps.length]();
      ctx.say(
        `export: round ${i + 1}/${rounds}: http ${Math.round(a[i])} rows/s, raw ${Math.round(b[i])} rows/s, gzip ${Math.round(g[i])} rows/s`,
      );
    }
    const [rowsPerS, rawRowsPerS, gzipRowsPerS] = [median(a), median(b), median(g)];
    ctx.say(`export: ${bytes.plain} bytes plain, ${bytes.gzip} gzipped`);
    return {
      rows_per_s: rowsPerS,
      raw_rows_per_s: rawRowsPerS,
      ratio: median(a.map((x, i) => x / b[i])),
      gzip_rows_per_s: gzipRowsPerS,
      gzip_ratio: median(g.map((x, i) => x / b[i])),
      gzip_shrink: bytes.plain / bytes.gzip,
    };
  } finally {
    await server.stop();
  }
}

/** Reads the whole body (inflating it when gzip is asked for): data rows and bytes on the wire. */
function download(url: string, authorization: string, gzip: boolean): Promise<{ rows: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization, ...(gzip ? { 'accept-encoding': 'gzip' } : {}) };
    request(url, { headers, agent: keepAlive }, (res) => {
      if (res.statusCode !== 200 || (gzip && res.headers['content-encoding'] !== 'gzip')) {
        res.resume();
        return reject(new Error(`GET ${url}: ${res.statusCode} ${res.headers['content-encoding'] ?? 'identity'}`));
      }
      let bytes = 0;
      let lines = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      const body = gzip ? res.pipe(createGunzip()) : res;
      body.on('data', (chunk: Buffer) => {
        for (let i = chunk.indexOf(NEWLINE); i !== -1; i = chunk.indexOf(NEWLINE, i + 1)) lines++;
      });
      body.on('end', () => resolve({ rows: lines - 1, bytes }));
      body.on('error', reject);
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/** Reads the whole CSV body and returns its data-row count (the bench's rows contain no line breaks). */
export function downloadRowCount(url: string, authorization: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, { headers: { authorization }, agent: keepAlive }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`GET ${url}: ${res.statusCode}`));
      }
      let lines = 0;
      res.on('data', (chunk: Buffer) => {
        for (let i = chunk.indexOf(NEWLINE); i !== -1; i = chunk.indexOf(NEWLINE, i + 1)) lines++;
      });
      res.on('end', () => resolve(lines - 1));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}
