import { InvalidArgumentError } from 'commander';
import { loadConfig, ConfigError, type Config } from '../config';
import { isCalendarDate } from '../expenses/dates';

/** An expected failure: its message is the whole story, printed as one line. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** SDK errors can span lines (XML bodies, stacks); a script's log wants one. */
export function oneLine(message: string, max = 400): string {
  const flat = message.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function die(message: string, code = 1): never {
  process.stderr.write(`expense-export: ${oneLine(message)}\n`);
  process.exit(code);
}

/**
 * The server's configuration, validated the same way. A bad value is still
 * one line per variable (as for `serve`), since each names what to fix.
 */
export function config(opts: { requireUsers?: boolean } = {}): Config {
  try {
    return loadConfig(undefined, opts);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`expense-export: invalid configuration: ${err.problems.join('\n  ')}\n`);
      process.exit(2);
    }
    throw err;
  }
}

export function positiveInt(max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > max)
      throw new InvalidArgumentError(`expected an integer from 1 to ${max}`);
    return n;
  };
}

/** A row number of a day: 0 or more. */
export function seqNumber(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a whole number, 0 or more');
  return n;
}

export function calendarDate(value: string): string {
  if (!isCalendarDate(value)) throw new InvalidArgumentError('expected a real calendar date as YYYY-MM-DD');
  return value;
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export const printJson = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
