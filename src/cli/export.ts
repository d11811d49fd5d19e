import { createWriteStream, existsSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
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

export async function exportCommand(o: { date: string; out?: string; through?: number; after?: number; layout: string }): Promise<void> {
  const cfg = config({ requireUsers: false });
  if (o.out) checkOut(o.out);
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
