import { randomInt } from 'node:crypto';
import { clockAt } from '../clock';
import { ApprovalService, type ApprovalDeps } from './approval';
import type { ExpenseStore } from './expense-store';
import type { NewExpense } from './model';
import { mapLimit } from '../map-limit';

const EMPLOYEES = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing', 'Katherine Johnson', 'Edsger Dijkstra', 'Barbara Liskov'];
const CENTERS = ['CC-100', 'CC-200', 'CC-310', 'OPS-7'];
const METHODS = ['direct_deposit', 'check', 'cash'] as const;
const ITEMS = ['Taxi', 'Hotel night', 'Team lunch', 'Train ticket', 'Conference fee', 'Parking'];

export function demoExpense(i: number): NewExpense {
  const n = 1 + (i % 3);
  return {
    employee: EMPLOYEES[i % EMPLOYEES.length],
    costCenter: CENTERS[i % CENTERS.length],
    reimbursementMethod: METHODS[i % METHODS.length],
    currency: 'USD',
    description: `Demo expense ${i + 1}`,
    // Cents chosen so naive float sums would show (0.1 + 0.2 ...).
    items: Array.from({ length: n }, (_, k) => ({
      description: ITEMS[(i + k) % ITEMS.length],
      amountMinor: BigInt(10 + randomInt(0, 20000)),
    })),
  };
}

export interface SeedOptions {
  store: ExpenseStore;
  approvalDeps: ApprovalDeps;
  count: number;
  approve: boolean;
  approver: string;
  /** Approve "at" this instant (demo data for yesterday); default now. */
  at?: Date;
  concurrency?: number;
  onProgress?: (done: number) => void;
}

/** Creates (and optionally approves) expenses through the same code paths as the API. */
export async function seedExpenses(o: SeedOptions): Promise<string[]> {
  const approvals = new ApprovalService({ ...o.approvalDeps, clock: o.at ? clockAt(o.at) : undefined });
  let done = 0;
  return mapLimit([...Array(o.count).keys()], o.concurrency ?? 8, async (i) => {
    const e = await o.store.create(demoExpense(i), o.at ?? new Date());
    if (o.approve) await approvals.approve(e.id, o.approver);
    o.onProgress?.(++done);
    return e.id;
  });
}
