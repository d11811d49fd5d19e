import { Router, type RequestHandler } from 'express';
import type { RouteKey } from '../src/auth/route-roles';
import { AppError } from '../src/http/app-error';
import { UnknownTargetError, type DeliveryTask } from '../src/delivery/delivery-task';
import { deliveryView } from '../src/delivery/delivery-view';
import { DELIVERY_STATES, type DeliveryState } from '../src/delivery/ledger';
import { calendarDate, calendarDateParam } from './params';

export interface DeliveriesRouterDeps {
  guard: (k: RouteKey) => RequestHandler;
  validate: RequestHandler[];
  deliveries: Pick<DeliveryTask, 'list' | 'redeliver'>;
}

/** The delivery ledger: what went where, and redelivery under a new name. */
export function deliveriesRouter(d: DeliveriesRouterDeps): Router {
  const r = Router();

  r.get('/deliveries', d.guard('GET /deliveries'), ...d.validate, async (req, res) => {
    const date = req.query.date === undefined ? undefined : calendarDate(req.query.date);
    const state = req.query.state as DeliveryState | undefined;
    if (state !== undefined && !DELIVERY_STATES.includes(state))
      throw new AppError('bad_request', `state must be one of ${DELIVERY_STATES.join(', ')}`);
    const target = req.query.target as string | undefined;
    const found = await d.deliveries.list({ date, target, state });
    res
      .set('Cache-Control', 'no-store')
      .json({ date: date ?? null, target: target ?? null, state: state ?? null, deliveries: found.map(deliveryView) });
  });

  r.post('/deliveries/:target/:date/redeliver', d.guard('POST /deliveries/{target}/{date}/redeliver'), ...d.validate, async (req, res) => {
    const date = calendarDateParam(req);
    const target = req.params.target as string;
    let created;
    try {
      created = await d.deliveries.redeliver(target, date, req.principal!.name);
    } catch (err) {
      if (err instanceof UnknownTargetError) throw new AppError('not_found', err.message);
      throw err;
    }
    if (created.length === 0)
      throw new AppError('conflict', `Nothing of ${date} has been delivered to ${target} (or failed) yet; nothing to deliver again.`);
    // The audit record: who asked for which files to go out again.
    req.log.info(
      { principal: req.principal!.name, target, date, files: created.map((c) => `${c.after + 1}-${c.through}-r${c.redelivery}`) },
      'redelivery requested',
    );
    res.status(202).json({ deliveries: created.map(deliveryView) });
  });

  return r;
}
