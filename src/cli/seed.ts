import { SingleBar, Presets } from 'cli-progress';
import { setTimeout as sleep } from 'node:timers/promises';
import { seedExpenses } from '../expenses/demo-data';
import { dateInZone } from '../expenses/dates';
import type { ExportTable } from '../export/export-table';
import { CliError, config } from './common';
import { withStorage } from './storage';

export interface SeedOptions {
  count: number;
  date?: string;
  approve: boolean;
  wait: boolean;
  waitTimeout: number;
}

const APPROVER = 'cli-seed';

/** An instant whose calendar date in `timeZone` is `date`, as close to local noon as the zone allows. */
export function instantOn(date: string, timeZone: string): Date {
  const midnightUtc = Date.parse(`${date}T00:00:00.000Z`);
  const hours = Array.from({ length: 48 }, (_, i) => i - 12).sort((a, b) => Math.abs(a - 12) - Math.abs(b - 12));
  for (const h of hours) {
    const at = new Date(midnightUtc + h * 3600_000);
    if (dateInZone(at, timeZone) === date) return at;
  }
  throw new CliError(`no instant falls on ${date} in ${timeZone}`);
}

/** Progress on a terminal only: a bar redrawn into a log file or a pipe is noise. */
function progress(label: string, total: number): { update(n: number): void; stop(): void } {
  if (!process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar(
    { format: `${label} [{bar}] {value}/{total} {percentage}% | {duration_formatted}`, stream: process.stderr, hideCursor: true },
    Presets.shades_classic,
  );
  bar.start(total, 0);
  return { update: (n) => bar.update(n), stop: () => bar.stop() };
}

async function exportedCount(table: ExportTable, dates: string[], ids: ReadonlySet<string>): Promise<number> {
  let n = 0;
  for (const date of dates) for await (const id of table.expenseIds(date)) if (ids.has(id)) n++;
  return n;
}

export async function seedCommand(o: SeedOptions): Promise<void> {
  const cfg = config({ requireUsers: false });
  if (o.wait && !o.approve) throw new CliError('--wait needs --approve: only approved expenses are exported');
  const at = o.date ? instantOn(o.date, cfg.EXPORT_TIMEZONE) : undefined;

  await withStorage(cfg, 'seed', async (storage) => {
    if (o.wait && storage.consumer === 'none') {
      throw new CliError(
        `--wait: no server is running on ${storage.embedded?.location}/ to export the approvals; start \`expense-export serve\` first`,
      );
    }
    const { services: s } = storage;
    const store = s.store;
    const approvalDeps = {
      store,
      outbox: s.outbox,
      queue: s.queues.main,
      timeoutMs: cfg.STORAGE_TIMEOUT_MS,
      timeZone: cfg.EXPORT_TIMEZONE,
    };
    const firstDate = dateInZone(at ?? new Date(), cfg.EXPORT_TIMEZONE);
    const started = Date.now();
    const bar = progress(o.approve ? 'create+approve' : 'create', o.count);
    let ids: string[];
    try {
      ids = await seedExpenses({
        store,
        approvalDeps,
        count: o.count,
        approve: o.approve,
        approver: APPROVER,
        at,
        onProgress: (n) => bar.update(n),
      });
    } finally {
      bar.stop();
    }
    const lastDate = dateInZone(at ?? new Date(), cfg.EXPORT_TIMEZONE);
    const dates = [...new Set([firstDate, lastDate])];
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const out = [
      `seeded ${ids.length} expenses in ${secs} s${o.approve ? ` (${ids.length} approved by ${APPROVER}, approval date ${dates.join(' and ')})` : ' (state submitted)'}`,
      `storage: ${storage.description}`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
    if (!o.approve) return;

    if (!o.wait) {
      const follow = `follow with: expense-export export --date ${lastDate} | wc -l`;
      const who = {
        server: `the running server (pid ${storage.embedded?.server?.pid}) exports them; ${follow}`,
        none: `no server runs on ${storage.embedded?.location}/: the approvals wait in the queue until \`expense-export serve\` starts`,
        unknown: `a server consuming queue ${cfg.APPROVALS_QUEUE} exports them; ${follow}`,
      }[storage.consumer];
      process.stdout.write(`${who}\n`);
      return;
    }

    const want = new Set(ids);
    const waitStarted = Date.now();
    const deadline = waitStarted + o.waitTimeout * 1000;
    const wbar = progress('exported', want.size);
    let done: number;
    try {
      for (;;) {
        done = await exportedCount(s.exportTable, dates, want);
        wbar.update(done);
        if (done >= want.size || Date.now() > deadline) break;
        await sleep(500);
      }
    } finally {
      wbar.stop();
    }
    if (done < want.size)
      throw new CliError(
        `--wait: ${done} of ${want.size} export rows after ${o.waitTimeout} s; is a server consuming queue ${cfg.APPROVALS_QUEUE}?`,
      );
    process.stdout.write(
      `exported ${done}/${want.size} rows to ${cfg.EXPORT_TABLE} for ${dates.join(' and ')} in ${((Date.now() - waitStarted) / 1000).toFixed(1)} s\n`,
    );
  });
}
