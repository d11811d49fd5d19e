import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import type { Express } from 'express';
import { Webhook } from 'standardwebhooks';
import type { Services } from '../../src/services';
import { basic } from '../support/users';
import { blobTarget, container, deliveryServices, seedDay } from '../support/delivery';
import { freePort } from '../support/sshd';
import { waitFor } from '../support/wait';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

interface Received {
  id: string;
  type: string;
  data: Record<string, unknown>;
}

/** A receiver that verifies every signature with the standardwebhooks package, and answers as told. */
class Receiver {
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  readonly verified: Received[] = [];
  readonly rejected: string[] = [];
  /** Ids answered 500 (after verifying them). */
  readonly failedIds: string[] = [];
  private readonly hung: ServerResponse[] = [];
  readonly server: Server;
  constructor() {
    const wh = new Webhook(SECRET);
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        try {
          const msg = wh.verify(body, req.headers as Record<string, string>) as { type: string; data: Record<string, unknown> };
          if (this.mode === 'hang') return void this.hung.push(res);
          if (this.mode === 'fail') return void (this.failedIds.push(req.headers['webhook-id'] as string), res.writeHead(500).end());
          this.verified.push({ id: req.headers['webhook-id'] as string, type: msg.type, data: msg.data });
          res.writeHead(204).end();
        } catch (err) {
          this.rejected.push((err as Error).message);
          res.writeHead(400).end();
        }
      });
    });
  }
  async listen(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }
  close(): void {
    for (const r of this.hung) r.destroy();
    this.server.close();
    this.server.closeAllConnections();
  }
}

const outcomes = (r: Array<{ outcome: string }>) => r.map((x) => x.outcome).sort();
const metric = async (s: Services, name: string, labels: Record<string, string>) =>
  (await s.metrics.registry.getSingleMetric(name)?.get())?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    ?.value;

describe('signed webhooks', () => {
  const receiver = new Receiver();
  let s: Services;
  let app: Express;
  afterAll(() => receiver.close());

  beforeAll(async () => {
    const url = await receiver.listen();
    ({ s, app } = await deliveryServices([blobTarget()], {
      webhooks: [{ name: 'erp', url, secret: SECRET }],
      WEBHOOK_TIMEOUT_MS: 500,
      WEBHOOK_RETRY_BASE_MS: 10,
      WEBHOOK_MAX_ATTEMPTS: 4,
    }));
  });

  test('day.closed and delivery.succeeded reach the receiver signed the Standard Webhooks way; a 500 is retried with the same id', async () => {
    const DATE = '2026-09-01';
    await seedDay(s, DATE, 6);
    await s.exportTable.close(DATE, new Date());
    await s.deliveries.runDue();
    await waitFor(async () => (await s.webhookOutbox.list('erp')).length === 2);
    receiver.mode = 'fail';
    expect(outcomes(await s.webhookSender.sendDue())).toEqual(['retry', 'retry']);
    receiver.mode = 'ok';
    // Both come due again after their backoff, not necessarily in the same run: send until both arrived.
    await waitFor(async () => {
      await s.webhookSender.sendDue();
      return receiver.verified.length === 2;
    });
    expect(receiver.rejected).toEqual([]);
    expect(receiver.verified.map((m) => [m.type, m.id]).sort()).toEqual([
      ['day.closed', `msg_day.closed_${DATE}`],
      ['delivery.succeeded', `msg_delivery.succeeded_blob_${DATE}_0_r0`],
    ]);
    expect(receiver.verified.find((m) => m.type === 'delivery.succeeded')!.data).toMatchObject({
      target: 'blob',
      date: DATE,
      seq: { from: 1, through: 6 },
      path: `expenses/${DATE}/v1-${DATE}.1-6.csv`,
    });
    expect(receiver.verified.find((m) => m.type === 'day.closed')!.data).toMatchObject({ date: DATE, closedSeq: 6 });
    expect(receiver.failedIds.sort()).toEqual(receiver.verified.map((m) => m.id).sort());
    expect(await metric(s, 'webhook_attempts_total', { endpoint: 'erp', outcome: 'retry' })).toBe(2);
    // Emitting again (another instance, a restart) records nothing new.
    await s.deliveries.runDue();
    expect(await s.webhookSender.sendDue()).toEqual([]);
  });

  test('late rows: day.late; an import of results: results.imported with its counts', async () => {
    const DATE = '2026-09-01';
    await seedDay(s, DATE, 2, 'late');
    await s.deliveries.runDue();
    const res = await request(app)
      .post('/results')
      .set('Authorization', basic('importer'))
      .set('Content-Type', 'text/csv')
      .set('Idempotency-Key', `wh-${randomBytes(4).toString('hex')}`)
      .send('expense_id,status,amount,currency,status_at,reference,message\r\nnope-1,paid,1.00,USD,2026-09-02T10:00:00Z,r1,\r\n');
    expect(res.status).toBe(200);
    await waitFor(async () => (await s.webhookOutbox.list('erp')).length === 5);
    await waitFor(async () => ((await s.webhookSender.sendDue()).length === 0 ? true : undefined));
    const byType = Object.fromEntries(receiver.verified.map((m) => [m.type, m.data]));
    expect(byType['day.late']).toEqual({ date: DATE, closedSeq: 6, seq: 8, lateRows: 2 });
    expect(byType['results.imported']).toMatchObject({
      importId: res.body.importId,
      received: 1,
      counts: expect.objectContaining({ unknown_expense: 1 }),
    });
  });

  test('a receiver that hangs costs only a timeout; one that is down is retried and then failed: ledger and metric say so', async () => {
    receiver.mode = 'hang';
    await s.webhookOutbox.emit('day.closed', 'msg_test_hang', { date: '2026-09-02' });
    const started = Date.now();
    expect(outcomes(await s.webhookSender.sendDue())).toEqual(['retry']);
    expect(Date.now() - started).toBeLessThan(5000);
    const [hung] = (await s.webhookOutbox.list('erp')).filter((m) => m.id === 'msg_test_hang');
    expect(hung).toMatchObject({ state: 'pending', attempts: 1, lastError: 'no answer within 500 ms' });
    receiver.mode = 'ok';

    const { s: down } = await deliveryServices([], {
      webhooks: [{ name: 'gone', url: `http://127.0.0.1:${await freePort()}/`, secret: SECRET }],
      WEBHOOK_RETRY_BASE_MS: 10,
      WEBHOOK_MAX_ATTEMPTS: 2,
    });
    await down.webhookOutbox.emit('day.closed', 'msg_test_down', { date: '2026-09-03' });
    expect(outcomes(await down.webhookSender.sendDue())).toEqual(['retry']);
    await waitFor(async () => (outcomes(await down.webhookSender.sendDue()).join() === 'failed' ? true : undefined));
    expect(await down.webhookOutbox.list('gone')).toEqual([
      expect.objectContaining({ state: 'failed', attempts: 2, lastError: expect.any(String) }),
    ]);
    expect(await metric(down, 'webhook_attempts_total', { endpoint: 'gone', outcome: 'failed' })).toBe(1);
  });

  test('delivery.failed: a file that cannot be delivered is announced once it is given up on, and the lag of delivered ones is measured', async () => {
    const url = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}/hooks`;
    const t = blobTarget({ name: 'taken' });
    const { s: s3 } = await deliveryServices([t], { webhooks: [{ name: 'erp', url, secret: SECRET, events: ['delivery.failed'] }] });
    const DATE = '2026-09-05';
    await seedDay(s3, DATE, 2);
    await s3.exportTable.close(DATE, new Date());
    await container(t).createIfNotExists();
    await container(t).getBlockBlobClient(`expenses/${DATE}/v1-${DATE}.1-2.csv`).upload('not ours', 8);
    expect((await s3.deliveries.runDue()).map((r) => r.outcome)).toEqual(['failed']);
    await waitFor(async () => (await s3.webhookOutbox.list('erp')).length === 1);
    expect(outcomes(await s3.webhookSender.sendDue())).toEqual(['sent']);
    expect(receiver.verified.at(-1)).toMatchObject({
      type: 'delivery.failed',
      data: { target: 'taken', date: DATE, seq: { from: 1, through: 2 }, errorCode: 'existing_file_differs' },
    });
    // The day's file (from its close) and its supplementary file (from when its late rows were found).
    const lag = (await s.metrics.registry.getSingleMetric('delivery_lag_seconds')?.get())?.values;
    expect(lag).toContainEqual(expect.objectContaining({ metricName: 'delivery_lag_seconds_count', labels: { target: 'blob' }, value: 2 }));
  });
});
