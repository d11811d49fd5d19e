import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { IdempotencyError } from '../results/results-import';
import { ResultFileError } from '../results/result-file';
import { CliError, config, printJson } from './common';
import { withStorage } from './storage';

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** As POST /results, straight against storage, with the same whole-file checks, idempotency and per-line judgement. */
export async function resultsImportCommand(file: string, o: { idempotencyKey?: string; rowCount?: number }): Promise<void> {
  if (!existsSync(file) || !statSync(file).isFile()) throw new CliError(`${file}: no such file`);
  const cfg = config({ requireUsers: false });
  const key = o.idempotencyKey ?? `sha256:${await sha256Of(file)}`;
  await withStorage(cfg, 'results import', async ({ services }) => {
    try {
      const { summary, replayed } = await services.results.import({
        body: createReadStream(file),
        media: file.toLowerCase().endsWith('.json') ? 'json' : 'csv',
        key,
        declaredCount: o.rowCount,
        by: 'cli',
      });
      printJson({ ...summary, idempotencyKey: key, replayed });
    } catch (err) {
      if (err instanceof ResultFileError || err instanceof IdempotencyError) throw new CliError(`${file}: ${err.message}`);
      throw err;
    }
  });
}
