import { userInfo } from 'node:os';
import pino from 'pino';
import { UnknownTargetError } from '../delivery/delivery-task';
import { deliveryView } from '../delivery/delivery-view';
import type { DeliveryState } from '../delivery/ledger';
import { CliError, config, printJson } from './common';
import { withStorage } from './storage';

/** The same JSON as GET /deliveries. */
export async function deliveriesListCommand(o: { date?: string; target?: string; state?: DeliveryState }): Promise<void> {
  const cfg = config({ requireUsers: false });
  await withStorage(cfg, 'deliveries list', async ({ services }) => {
    const found = await services.deliveries.list(o);
    printJson({ date: o.date ?? null, target: o.target ?? null, state: o.state ?? null, deliveries: found.map(deliveryView) });
  });
}

/**
 * As POST /deliveries/{target}/{date}/redeliver: plans the files again under
 * new names; a running server sends them (or this command, with --now). The
 * audit line (who, what) goes to stderr in the server's log format.
 */
export async function redeliverCommand(target: string, date: string, o: { now: boolean }): Promise<void> {
  const cfg = config({ requireUsers: false });
  await withStorage(cfg, 'deliveries redeliver', async ({ services }) => {
    const principal = `cli:${userInfo().username}`;
    let created;
    try {
      created = await services.deliveries.redeliver(target, date, principal);
    } catch (err) {
      if (err instanceof UnknownTargetError) throw new CliError(err.message);
      throw err;
    }
    if (created.length === 0)
      throw new CliError(`nothing of ${date} has been delivered to ${target} (or failed) yet; nothing to deliver again`);
    pino({ base: { component: 'cli' } }, pino.destination({ dest: 2, sync: true })).info(
      { principal, target, date, files: created.map((c) => `${c.after + 1}-${c.through}-r${c.redelivery}`) },
      'redelivery requested',
    );
    if (o.now) await services.deliveries.runDue();
    const after = await services.deliveries.list({ date, target });
    printJson({
      deliveries: after.filter((r) => created.some((c) => c.after === r.after && c.redelivery === r.redelivery)).map(deliveryView),
    });
  });
}
