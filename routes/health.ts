import { Router } from 'express';
import type { StorageProbe } from '../src/storage/probe';
import type { QueueConsumer } from '../src/consumer/consumer';
import type { BearerVerifier } from '../src/auth/bearer-verifier';

export function healthRouter(d: {
  probe: Pick<StorageProbe, 'check'>;
  consumer: Pick<QueueConsumer<unknown, unknown>, 'state' | 'lastLoopAt' | 'stallLimitMs'>;
  bearer?: Pick<BearerVerifier, 'keysReady'>;
}): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });
  r.get('/readyz', async (_req, res) => {
    // Keys loaded once stay in use through an issuer outage, so only "never loaded" makes us unready.
    const [storage, keys] = await Promise.all([d.probe.check(), d.bearer?.keysReady()]);
    const c = d.consumer;
    // 'created': the consumer is disabled in this process (CONSUMER_ENABLED=false), which is not a fault.
    // A loop that has not turned within its own stall limit (which follows the configured backoffs) is stuck.
    const consumerAlive = c.state === 'created' || (c.state !== 'stopped' && Date.now() - c.lastLoopAt < c.stallLimitMs);
    const ready = storage.ok && consumerAlive && c.state !== 'stopping' && keys !== false;
    res
      .status(ready ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json({
        status: ready ? 'ready' : 'not_ready',
        storage: storage.ok ? 'ok' : 'unreachable',
        consumer: c.state,
        ...(keys === undefined ? {} : { bearerKeys: keys ? 'loaded' : 'never_loaded' }),
      });
  });
  return r;
}
