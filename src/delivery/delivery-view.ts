import type { DeliveryRecord } from './ledger';

/** A delivery as GET /deliveries and `expense-export deliveries` show it. Pure. */
export function deliveryView(r: DeliveryRecord) {
  return {
    target: r.target,
    date: r.date,
    layout: r.layout,
    seq: { from: r.after + 1, through: r.through },
    redelivery: r.redelivery,
    state: r.state,
    attempts: r.attempts,
    path: r.path ?? null,
    etag: r.fileEtag ?? null,
    bytes: r.bytes ?? null,
    sha256: r.sha256 ?? null,
    createdAt: r.createdAt,
    closedAt: r.closedAt ?? null,
    deliveredAt: r.deliveredAt ?? null,
    nextAttemptAt: r.state === 'pending' ? (r.nextAttemptAt ?? null) : null,
    errorCode: r.errorCode ?? null,
    lastError: r.lastError ?? null,
    requestedBy: r.requestedBy ?? null,
  };
}
