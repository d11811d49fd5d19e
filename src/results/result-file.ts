import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parse as csvParse, CsvError } from 'csv-parse';
import { parser as jsonParser } from 'stream-json';
import { streamArray } from 'stream-json/streamers/StreamArray';
import { headerProblem, RESULT_COLUMNS, type ResultCells } from './result-line';

/**
 * A results file, streamed from the request into a temporary file (size
 * cap, SHA-256, UTF-8 check on the way), then read as records twice: once
 * to judge the file as a whole (header, syntax, count), once to apply it.
 * Memory stays flat for any size; nothing is applied unless the whole file
 * is sound.
 */
export type ResultMedia = 'csv' | 'json';

export type FileProblem = 'undecodable_body' | 'bad_header' | 'malformed_file' | 'payload_too_large' | 'row_count_mismatch';

export class ResultFileError extends Error {
  override name = 'ResultFileError';
  constructor(
    readonly code: FileProblem,
    message: string,
  ) {
    super(message);
  }
}

export interface SpooledFile {
  path: string;
  bytes: number;
  /** Hex SHA-256 of the bytes as sent. */
  sha256: string;
  /** Removes the temporary file and its folder (idempotent). */
  remove(): Promise<void>;
}

/** A line of CSV (or a JSON element) longer than this is not a result: the file is refused. */
export const MAX_RECORD_BYTES = 64 * 1024;

export async function spool(body: Readable, maxBytes: number): Promise<SpooledFile> {
  const dir = await mkdtemp(join(tmpdir(), 'expense-results-'));
  const path = join(dir, 'body');
  const remove = () => rm(dir, { recursive: true, force: true });
  const hash = createHash('sha256');
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let bytes = 0;
  const check = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > maxBytes) return done(new ResultFileError('payload_too_large', `The file is over the limit of ${maxBytes} bytes.`));
      try {
        utf8.decode(chunk, { stream: true });
      } catch {
        return done(new ResultFileError('undecodable_body', `The body is not UTF-8 (near byte ${bytes - chunk.length}).`));
      }
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      try {
        utf8.decode();
        done();
      } catch {
        done(new ResultFileError('undecodable_body', 'The body ends in the middle of a UTF-8 character.'));
      }
    },
  });
  try {
    await pipeline(body, check, createWriteStream(path));
  } catch (err) {
    await remove();
    throw err;
  }
  return { path, bytes, sha256: hash.digest('hex'), remove };
}

/** One record of a file as read, before any line rule: its cells, and where it is (CSV: its line in the file; JSON: its position in the array, from 1). */
export interface ResultFileRecord {
  raw: ResultCells;
  line: number;
}

/** The file's records, one at a time, with back-pressure; its whole-file problems as ResultFileError. */
export async function* readRecords(path: string, media: ResultMedia): AsyncGenerator<ResultFileRecord> {
  try {
    if (media === 'csv') yield* csvRecords(path);
    else yield* jsonRecords(path);
  } catch (err) {
    if (err instanceof ResultFileError) throw err;
    if (err instanceof CsvError) throw new ResultFileError('malformed_file', `Not a CSV file of results: ${err.message}`);
    throw new ResultFileError('malformed_file', `Not a JSON array of results: ${(err as Error).message}`);
  }
}

async function* csvRecords(path: string): AsyncGenerator<ResultFileRecord> {
  let header = false;
  // csv-parse reports an error thrown in `columns` as its own; keep ours to rethrow.
  let headerError: ResultFileError | undefined;
  const records = createReadStream(path).pipe(
    csvParse({
      bom: true,
      columns: (names: string[]) => {
        header = true;
        const problem = headerProblem(names);
        if (problem) throw (headerError = new ResultFileError('bad_header', problem));
        return names.map((h) => h.trim());
      },
      info: true,
      max_record_size: MAX_RECORD_BYTES,
      skip_empty_lines: true,
    }),
  );
  try {
    for await (const r of records as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      yield { raw: r.record, line: r.info.lines };
    }
  } catch (err) {
    throw headerError ?? err;
  }
  if (!header) throw new ResultFileError('bad_header', `The file is empty: the header row must be ${RESULT_COLUMNS.join(',')}.`);
}

async function* jsonRecords(path: string): AsyncGenerator<ResultFileRecord> {
  const elements = createReadStream(path).pipe(jsonParser()).pipe(streamArray());
  for await (const e of elements as AsyncIterable<{ key: number; value: unknown }>) {
    const v = e.value;
    if (!v || typeof v !== 'object' || Array.isArray(v))
      throw new ResultFileError('malformed_file', `Element ${e.key + 1} is not an object.`);
    const keys = Object.keys(v);
    const unknown = keys.filter((k) => !(RESULT_COLUMNS as readonly string[]).includes(k));
    if (unknown.length)
      throw new ResultFileError(
        'bad_header',
        `Element ${e.key + 1} has unknown fields ${unknown.slice(0, 5).join(', ')}; the fields are ${RESULT_COLUMNS.join(', ')}.`,
      );
    if (JSON.stringify(v).length > MAX_RECORD_BYTES)
      throw new ResultFileError('malformed_file', `Element ${e.key + 1} is over ${MAX_RECORD_BYTES} bytes.`);
    yield { raw: v, line: e.key + 1 };
  }
}

/** The first pass: is the file sound as a whole? Returns its record count. */
export async function countRecords(path: string, media: ResultMedia): Promise<number> {
  let n = 0;
  for await (const _ of readRecords(path, media)) n++;
  return n;
}
