import { createWriteStream, existsSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { csvStringifier, pageStream } from '../export/csv';
import type { Snapshot } from '../export/export-table';
import { SeqOutOfRangeError } from '../export/errors';
import { CliError, config, oneLine } from './common';
import { withStorage } from './storage';

/** Same snapshot, same CSV as GET /exports/:date: the day's rows, page by page, with back-pressure. */
async function writeCsv(snap: Snapshot, sink: Writable, end: boolean): Promise<number> {
  let n = 0;
  await pipeline(pageStream(snap.pages()), csvStringifier({ onPage: (k) => (n += k) }), sink, { end });
  return n;
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

export async function exportCommand(o: { date: string; out?: string; through?: number; after?: number }): Promise<void> {
  const cfg = config({ requireUsers: false });
  if (o.out) checkOut(o.out);
  await withStorage(cfg, 'export', async ({ services }) => {
    const t = cfg.STORAGE_TIMEOUT_MS;
    try {
      const snap = await services.exportTable.snapshot(o.date, { through: o.through, after: o.after });
      if (o.out) {
        const n = await writeFileAtomically(o.out, (sink) => writeCsv(snap, sink, true));
        process.stderr.write(
          `expense-export: wrote ${n} rows for ${o.date} (seq ${snap.after + 1}..${snap.through}, ${snap.state}) to ${o.out}\n`,
        );
      } else {
        // stdout cannot be un-written: a failure half-way is reported by the exit status (and stderr), like curl -f.
        await writeCsv(snap, process.stdout, false);
      }
    } catch (err) {
      if (err instanceof CliError) throw err;
      if (err instanceof SeqOutOfRangeError) throw new CliError(err.message);
      if ((err as NodeJS.ErrnoException).code === 'EPIPE') return; // the reader (head, a closed pipe) has all it wanted
      // Our deadlines abort storage calls; the SDK then reports a generic abort, so say what it was.
      const why = (err as Error).name === 'AbortError' ? `storage did not answer within ${t} ms` : oneLine((err as Error).message, 200);
      throw new CliError(
        `export of ${o.date} failed${o.out ? `; ${o.out} was not written` : ' part-way; the output is incomplete'}: ${why}`,
      );
    }
  });
}
