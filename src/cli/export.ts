import { createWriteStream, existsSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { SeqOutOfRangeError } from '../export/errors';
import { LayoutOptionError, LayoutRefusedError, UnknownLayoutError } from '../layouts/errors';
import { openLayoutFile, type LayoutFile } from '../layouts/open-file';
import { CliError, config, oneLine } from './common';
import { withStorage } from './storage';

/** Same snapshot, same bytes as GET /exports/:date?layout=: the day's records, page by page, with back-pressure. */
async function writeFile(file: LayoutFile, sink: Writable, end: boolean): Promise<number> {
  await pipeline(Readable.from(file.body(), { objectMode: false, highWaterMark: 1 }), sink, { end });
  return file.rowCount;
}

/**
 * Writes to a hidden temporary file beside the target and renames it into
 * place only when complete, so that a failure never leaves a truncated file
 * under the expected name (a rename on one filesystem is atomic).
 */
async function writeFileAtomically(out: string, write: (sink: Writable) => Promise<number>): Promise<number> {
  const target = resolve(out);
  const dir = dirname(target);
  const tmp = join(dir, `.${basename(target)}.${process.pid}.partial`);
  try {
    const n = await write(createWriteStream(tmp, { flags: 'wx' }));
    await rename(tmp, target);
    return n;
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Checked before storage is touched: a typo in --out should not cost an Azurite start. */
function checkOut(out: string): void {
  const target = resolve(out);
  const dir = dirname(target);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError(`--out: directory ${dir} does not exist`);
  if (existsSync(target) && statSync(target).isDirectory()) throw new CliError(`--out: ${out} is a directory`);
}

interface ExportOptions {
  date: string;
  out?: string;
  through?: number;
  after?: number;
  url?: string;
  token?: string;
  layout: string;
}

/**
 * The same file from a running server over HTTP, signed in with a bearer
 * token (e.g. from Entra ID): for a machine that holds a token but no
 * storage credentials. The token is sent, never printed.
 */
async function pullOverHttp(o: ExportOptions & { url: string }, token: string | undefined): Promise<void> {
  if (!token) throw new CliError('--url needs a bearer token: --token or EXPENSE_EXPORT_TOKEN');
  let url: URL;
  try {
    url = new URL(`exports/${o.date}`, o.url.endsWith('/') ? o.url : `${o.url}/`);
  } catch {
    throw new CliError(`--url: not a URL: ${oneLine(o.url, 100)}`);
  }
  if (o.through !== undefined) url.searchParams.set('through', String(o.through));
  if (o.after !== undefined) url.searchParams.set('after', String(o.after));
  if (o.layout !== 'v1') url.searchParams.set('layout', o.layout);
  let res: Response;
  try {
    res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'text/csv' } });
  } catch (err) {
    throw new CliError(
      `GET ${url.pathname} failed: ${oneLine(((err as Error).cause as Error | undefined)?.message ?? (err as Error).message, 200)}`,
    );
  }
  if (!res.ok || !res.body) {
    const problem = (await res.json().catch(() => ({}))) as { code?: string; detail?: string };
    const why = res.headers.get('www-authenticate')?.match(/error_description="([^"]*)"/)?.[1] ?? problem.detail ?? '';
    throw new CliError(`GET ${url.pathname} answered ${res.status}${problem.code ? ` ${problem.code}` : ''}${why ? `: ${why}` : ''}`);
  }
  const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
  if (o.out) {
    await writeFileAtomically(o.out, async (sink) => {
      await pipeline(body, sink);
      return 0;
    });
    const rows = res.headers.get('export-row-count') ?? '?';
    process.stderr.write(`expense-export: wrote ${rows} rows for ${o.date} (seq ..${res.headers.get('export-seq') ?? '?'}) to ${o.out}\n`);
  } else {
    await pipeline(body, process.stdout, { end: false });
  }
}

export async function exportCommand(o: ExportOptions): Promise<void> {
  const cfg = config({ requireUsers: false });
  if (o.out) checkOut(o.out);
  const url = o.url ?? cfg.EXPENSE_EXPORT_URL;
  if (url) return pullOverHttp({ ...o, url }, o.token ?? cfg.EXPENSE_EXPORT_TOKEN);
  if (o.token) throw new CliError('--token needs --url (or EXPENSE_EXPORT_URL): without a server, the file comes straight from storage');
  await withStorage(cfg, 'export', async ({ services }) => {
    const t = cfg.STORAGE_TIMEOUT_MS;
    try {
      const file = await openLayoutFile(
        { exportTable: services.exportTable, layouts: cfg.layouts },
        o.date,
        { through: o.through, after: o.after },
        o.layout,
      );
      const snap = file.snapshot;
      if (o.out) {
        const n = await writeFileAtomically(o.out, (sink) => writeFile(file, sink, true));
        process.stderr.write(
          `expense-export: wrote ${n} ${file.layout.layout.grain === 'item' ? 'item lines' : 'rows'} for ${o.date} (seq ${snap.after + 1}..${snap.through}, ${snap.state})${o.layout === 'v1' ? '' : ` in layout ${o.layout}`} to ${o.out}\n`,
        );
      } else {
        // stdout cannot be un-written: a failure half-way is reported by the exit status (and stderr), like curl -f.
        await writeFile(file, process.stdout, false);
      }
      if (file.transliteration && file.transliterated() > 0)
        process.stderr.write(
          `expense-export: ${file.transliterated()} characters transliterated (${file.transliteration}; see docs/layouts.md)\n`,
        );
    } catch (err) {
      if (err instanceof CliError) throw err;
      if (
        err instanceof SeqOutOfRangeError ||
        err instanceof UnknownLayoutError ||
        err instanceof LayoutOptionError ||
        err instanceof LayoutRefusedError
      )
        throw new CliError(err.message);
      if ((err as NodeJS.ErrnoException).code === 'EPIPE') return; // the reader (head, a closed pipe) has all it wanted
      // Our deadlines abort storage calls; the SDK then reports a generic abort, so say what it was.
      const why = (err as Error).name === 'AbortError' ? `storage did not answer within ${t} ms` : oneLine((err as Error).message, 200);
      throw new CliError(
        `export of ${o.date} failed${o.out ? `; ${o.out} was not written` : ' part-way; the output is incomplete'}: ${why}`,
      );
    }
  });
}
