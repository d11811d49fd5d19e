import { setTimeout as sleep } from 'node:timers/promises';
import { dateInZone } from '../src/expenses/dates';
import type { StorageClients } from '../src/storage/clients';
import type { AzuriteProcess } from '../harness/azurite-process';
import type { ApprovalLedger } from './driver';
import type { Fleet } from './fleet';
import { mapLimit } from '../src/map-limit';
import type { InvariantReport } from '../harness/invariants';
import { ExpenseStore } from '../src/expenses/expense-store';
import { ExportTable } from '../src/export/export-table';
import pino from 'pino';
import { INITIAL_STATE } from '../src/expenses/lifecycle';
import { decodeApproval } from '../src/expenses/approval-message';
import type { PoisonEnvelope } from '../src/consumer/poison';

/** Loki's autosave interval plus a margin: writes acknowledged this long before the kill may be gone after it. */
const LOSS_WINDOW_MS = 6000;

export interface StorageKill {
  at: number;
  downMs: number;
  ackedAtKill: number;
  /** Export rows seen just before the SIGKILL and gone just after the restart: dropped by Azurite, never by us. */
  lostRows: Set<string>;
  /** Approvals acknowledged before the SIGKILL that read "submitted" after the restart: dropped by Azurite. */
  revertedApprovals: Set<string>;
}

/** Storage may still be coming back from its restart: try again for about 10 s. */
async function retried<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 20) throw err;
      await sleep(500);
    }
  }
}

function exportRowKeys(c: StorageClients, dates: readonly string[]): Promise<Set<string>> {
  return retried(async () => {
    const keys = new Set<string>();
    const table = new ExportTable(c.exports, 20_000, { logger: pino({ level: 'silent' }) });
    for (const date of dates) for await (const id of table.expenseIds(date)) keys.add(id);
    return keys;
  });
}

/** SIGKILL Azurite mid-run and restart it on the same ports, noting which export rows it dropped. */
export async function killStorage(
  azurite: AzuriteProcess,
  c: StorageClients,
  acked: () => string[],
  say: (m: string) => void,
): Promise<StorageKill> {
  const now = new Date();
  const dates = [...new Set([dateInZone(new Date(now.getTime() - 60_000), 'UTC'), dateInZone(now, 'UTC')])];
  const before = await exportRowKeys(c, dates);
  const ackedBefore = acked();
  const at = Date.now();
  const pid = azurite.pid;
  await azurite.kill();
  say(`SIGKILL Azurite pid ${pid} (${before.size} export rows seen just before, ${ackedBefore.length} approvals acknowledged)`);
  await sleep(1000 + Math.random() * 1000);
  await azurite.restart();
  const downMs = Date.now() - at;
  say(`Azurite restarted on the same ports as pid ${azurite.pid} after ${downMs} ms`);
  const after = await exportRowKeys(c, dates);
  const lostRows = new Set([...before].filter((k) => !after.has(k)));
  const store = new ExpenseStore(c, 10_000);
  const states = await mapLimit(ackedBefore, 16, (id) => retried(async () => (await store.get(id))?.value.state));
  // Back to the initial state: the approval's save is what Azurite dropped.
  const revertedApprovals = new Set(ackedBefore.filter((_, i) => states[i] === INITIAL_STATE));
  say(`Azurite dropped ${lostRows.size} of those export rows and ${revertedApprovals.size} acknowledged approvals in its SIGKILL`);
  return { at, downMs, ackedAtKill: ackedBefore.length, lostRows, revertedApprovals };
}

/**
 * When Azurite dropped an approval but its queue kept the message, the
 * consumer finds the expense "submitted", retries, and poisons it with that
 * reason: the visible outcome we want, and explained by the loss.
 */
export function excuseRevertedApproval(kill: StorageKill | undefined): (entry: PoisonEnvelope) => boolean {
  return (entry) => {
    const decoded = decodeApproval(entry.body);
    return !!kill && decoded.ok && kill.revertedApprovals.has(decoded.message.expenseId) && /not approved/.test(entry.reason);
  };
}

export interface LossReport {
  rowsLost: number;
  approvalsReverted: number;
  repaired: string[];
  unexplained: string[];
}

/**
 * Expenses approved but without an export row once everything settled are
 * stuck: no message, no outbox row left to drive them. Only those with
 * evidence of Azurite's loss (their row vanished in the kill, or their
 * approval was acknowledged inside the autosave window before it) are put
 * down to storage and re-exported by the admin endpoint; the rest are ours.
 */
export async function repairStorageLoss(
  kill: StorageKill,
  report: InvariantReport,
  ledger: ApprovalLedger,
  fleet: Fleet,
  auth: string,
): Promise<LossReport> {
  const inWindow = (id: string) => {
    const t = ledger.ackedAt.get(id);
    return t !== undefined && t >= kill.at - LOSS_WINDOW_MS && t <= kill.at;
  };
  const attributable = report.missing.filter((id) => kill.lostRows.has(id) || inWindow(id));
  const unexplained = report.missing.filter((id) => !attributable.includes(id));
  const repaired: string[] = [];
  for (const id of attributable) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const p = fleet.pick();
      const res = p?.url
        ? await fetch(`${p.url}/admin/expenses/${id}/reexport`, {
            method: 'POST',
            headers: { authorization: auth },
            signal: AbortSignal.timeout(10_000),
          }).catch(() => undefined)
        : undefined;
      if (res?.status === 202) {
        repaired.push(id);
        break;
      }
      await sleep(250);
    }
  }
  return { rowsLost: kill.lostRows.size, approvalsReverted: kill.revertedApprovals.size, repaired, unexplained };
}
