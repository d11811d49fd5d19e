import { Router } from 'express';
import type { StorageProbe } from '../src/storage/probe';
import type { QueueConsumer } from '../src/consumer/consumer';

/** A consumer loop that has not turned for this long is considered stuck (outage backoff caps at ~30 s). */
const LOOP_STALL_MS = 90_000;

export function healthRouter(d: { probe: StorageProbe; consumer: QueueConsumer }): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });
  r.get('/readyz', async (_req, res) => {
    const storage = await d.probe.check();
    const c = d.consumer;
    // 'created': the consumer is disabled in this process (CONSUMER_ENABLED=false), which is not a fault.
    const consumerAlive = c.state === 'created' || (c.state !== 'stopped' && Date.now() - c.lastLoopAt < LOOP_STALL_MS);
    const ready = storage.ok && consumerAlive && c.state !== 'stopping';
    res
      .status(ready ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json({ status: ready ? 'ready' : 'not_ready', storage: storage.ok ? 'ok' : 'unreachable', consumer: c.state });
  });
  return r;
}
