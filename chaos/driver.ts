import { setTimeout as sleep } from 'node:timers/promises';
import { mapLimit } from '../src/map-limit';
import type { Fleet } from './fleet';
import { awaitsExport, isExpenseState } from '../src/expenses/lifecycle';

export interface ApprovalLedger {
  /** When the service acknowledged the approval (200, or 409 "processing": an earlier attempt got through). */
  ackedAt: Map<string, number>;
  gaveUp: string[];
  attempts: number;
  failures: number;
}

/**
 * Approves like a careful client: on a dropped connection or a 5xx, retry on
 * another instance. Approval is idempotent, so a retry after a lost answer is
 * safe; the outbox covers a death between saving and enqueuing.
 */
export async function approveAll(
  fleet: Fleet,
  ids: readonly string[],
  auth: string,
  width: number,
  onAck?: (id: string) => void,
): Promise<ApprovalLedger> {
  const ledger: ApprovalLedger = { ackedAt: new Map(), gaveUp: [], attempts: 0, failures: 0 };
  await mapLimit(ids, width, async (id) => {
    if (await approveOne(fleet, id, auth, ledger)) {
      ledger.ackedAt.set(id, Date.now());
      onAck?.(id);
    } else ledger.gaveUp.push(id);
  });
  return ledger;
}

async function approveOne(fleet: Fleet, id: string, auth: string, ledger: ApprovalLedger): Promise<boolean> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const instance = fleet.pick();
    if (instance?.url) {
      ledger.attempts++;
      try {
        const res = await fetch(`${instance.url}/expenses/${id}/approve`, {
          method: 'POST',
          headers: { authorization: auth },
          signal: AbortSignal.timeout(15_000),
        });
        const body = (await res.json()) as { state?: string; detail?: string };
        if (res.status === 200 && isExpenseState(body.state) && awaitsExport(body.state)) return true;
        if (res.status === 409 && /is processing/.test(body.detail ?? '')) return true;
      } catch {
        // connection refused or dropped: the instance died under us
      }
      ledger.failures++;
    }
    await sleep(100 + Math.random() * 400);
  }
  return false;
}

/** Bodies that can never succeed, one of each kind; `tag` keeps each injection's bodies distinct. */
export function malformedBodies(tag: string): string[] {
  const b64 = (x: string | Buffer) => Buffer.from(x).toString('base64');
  return [
    `{"expenseId": "${tag}", "approvalDate": `,
    b64(`{"expenseId": "${tag}"`),
    `chaos ${tag}: not a message`,
    JSON.stringify({ expenseId: tag }),
    JSON.stringify({ expenseId: `${tag}/slash`, approvalDate: '2026-01-01' }),
    b64(JSON.stringify({ expenseId: `${tag}' or PartitionKey ne '`, approvalDate: '2026-01-01' })),
    JSON.stringify({ expenseId: tag, approvalDate: '2026-02-30' }),
    b64(Buffer.from(`{"expenseId":"${tag}-caf\u00e9","approvalDate":"2026-01-01"}`, 'latin1')),
  ];
}
