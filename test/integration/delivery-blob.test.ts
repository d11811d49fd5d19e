import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { azuriteConnectionString } from '../support/storage';
import request from 'supertest';
import type { Express } from 'express';
import type { Services } from '../../src/services';
import { basic } from '../support/users';
import { blobBytes, blobNames, blobTarget, container, deliveryServices, pull, seedDay } from '../support/delivery';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const metric = async (s: Services, name: string) => (await s.metrics.registry.getSingleMetric(name)?.get())?.values ?? [];

describe('delivery to Azure Blob Storage (Azurite)', () => {
  const target = blobTarget();
  const c = container(target);
  let s: Services;
  let app: Express;
  const DATE = '2026-05-04';

  beforeAll(async () => {
    ({ s, app } = await deliveryServices([target]));
    await seedDay(s, DATE, 25);
    await s.exportTable.close(DATE, new Date());
  });

  test('a closed day: the ?through= bytes under the pattern, then a sidecar with the same ETag, hash, count and totals', async () => {
    const settled = await s.deliveries.runDue();
    expect(settled.map((r) => r.outcome)).toEqual(['delivered']);
    const path = `expenses/${DATE}/v1-${DATE}.1-25.csv`;
    expect(await blobNames(c)).toEqual([path, `${path}.manifest.json`]);
    const pulled = await pull(app, DATE, 'through=25');
    const file = await blobBytes(c, path);
    expect(file.equals(pulled.bytes)).toBe(true);
    const sidecar = JSON.parse((await blobBytes(c, `${path}.manifest.json`)).toString('utf8'));
    const manifest = (await request(app).get(`/exports/${DATE}/manifest`).set('Authorization', basic('exporter'))).body;
    expect(sidecar).toEqual({
      date: DATE,
      layout: 'v1',
      seq: { from: 1, through: 25 },
      rowCount: 25,
      totals: manifest.totals,
      sha256: sha(file),
      bytes: file.length,
      etag: pulled.etag,
      encryption: 'none',
      file: `v1-${DATE}.1-25.csv`,
    });
    const [rec] = await s.deliveries.list({ date: DATE });
    expect(rec).toMatchObject({ state: 'delivered', attempts: 1, path, fileEtag: pulled.etag, sha256: sha(file), bytes: file.length });
    const attempts = await s.deliveryLedger.attempts(rec);
    expect(attempts).toEqual([
      expect.objectContaining({ outcome: 'delivered', attempt: 1, path, sha256: sha(file), endedAt: expect.any(String) }),
    ]);
    expect(await metric(s, 'delivery_attempts_total')).toContainEqual(
      expect.objectContaining({ labels: { target: 'blob', outcome: 'delivered' }, value: 1 }),
    );
  });

  test('running again delivers nothing twice', async () => {
    expect(await s.deliveries.runDue()).toEqual([]);
    expect(await blobNames(c)).toHaveLength(2);
  });

  test('rows that land after the close go out as a supplementary file of ?after=<last delivered seq>', async () => {
    await seedDay(s, DATE, 3, 'late');
    expect((await s.deliveries.runDue()).map((r) => r.outcome)).toEqual(['delivered']);
    const path = `expenses/${DATE}/v1-${DATE}.26-28.csv`;
    expect(await blobNames(c)).toContain(path);
    const pulled = await pull(app, DATE, 'after=25&through=28');
    expect((await blobBytes(c, path)).equals(pulled.bytes)).toBe(true);
    const sidecar = JSON.parse((await blobBytes(c, `${path}.manifest.json`)).toString('utf8'));
    expect(sidecar).toMatchObject({ seq: { from: 26, through: 28 }, rowCount: 3, etag: pulled.etag });
    expect(await s.deliveries.runDue()).toEqual([]);
    expect(await blobNames(c)).toHaveLength(4);
  });

  test('a crash after the file was committed but before the ledger said so resumes: no second file, no rewrite', async () => {
    const DAY = '2026-05-05';
    await seedDay(s, DAY, 5);
    await s.exportTable.close(DAY, new Date());
    await s.deliveries.runDue();
    const [done] = await s.deliveries.list({ date: DAY });
    const path = done.path!;
    const before = await c.getBlockBlobClient(path).getProperties();
    // What a holder that died after the commit leaves: its lease, its recorded hash, no outcome.
    const stored = (await s.deliveryLedger.get(DAY, 'blob', 0, 0))!;
    await s.deliveryLedger.update(
      {
        ...stored.record,
        state: 'delivering',
        leaseOwner: 'dead',
        leaseUntil: new Date(Date.now() - 1000).toISOString(),
        deliveredAt: undefined,
      },
      stored.etag,
    );
    expect((await s.deliveries.runDue()).map((r) => r.outcome)).toEqual(['delivered']);
    const after = await c.getBlockBlobClient(path).getProperties();
    expect(after.etag).toBe(before.etag);
    expect((await blobNames(c)).filter((n) => n.includes(DAY))).toHaveLength(2);
  });

  test('a blob already there with other bytes is never overwritten: the delivery fails at once, with its reason', async () => {
    const DAY = '2026-05-06';
    await seedDay(s, DAY, 4);
    await s.exportTable.close(DAY, new Date());
    const path = `expenses/${DAY}/v1-${DAY}.1-4.csv`;
    await c.getBlockBlobClient(path).upload('someone else', 12);
    expect((await s.deliveries.runDue()).map((r) => r.outcome)).toEqual(['failed']);
    expect((await blobBytes(c, path)).toString()).toBe('someone else');
    expect(await blobNames(c)).not.toContain(`${path}.manifest.json`);
    const [rec] = await s.deliveries.list({ date: DAY });
    expect(rec).toMatchObject({ state: 'failed', errorCode: 'existing_file_differs', attempts: 1 });
    expect(await metric(s, 'deliveries_failed')).toContainEqual(expect.objectContaining({ labels: { target: 'blob' } }));
    await s.deliveries.runDue();
    expect(await metric(s, 'deliveries_failed')).toContainEqual({ labels: { target: 'blob' }, value: 1 });
  });

  test('two instances on one ledger: each file once', async () => {
    const DAY = '2026-05-07';
    await seedDay(s, DAY, 30);
    await s.exportTable.close(DAY, new Date());
    const other = (await deliveryServices([target], {}, s.clients)).s;
    const both = await Promise.all([s.deliveries.runDue(), other.deliveries.runDue(), s.deliveries.runDue()]);
    expect(both.flat().map((r) => r.outcome)).toEqual(['delivered']);
    expect((await blobNames(c)).filter((n) => n.includes(DAY))).toHaveLength(2);
    expect(await s.deliveries.list({ date: DAY })).toHaveLength(1);
  });

  test('a ledger update on a moved ETag writes nothing: not the state, not the attempt it carries', async () => {
    // A target no instance delivers to, so that no run here picks this entity up.
    const record = {
      target: 'elsewhere',
      date: '2026-05-08',
      layout: 'v1',
      after: 0,
      through: 3,
      redelivery: 0,
      state: 'pending' as const,
      attempts: 0,
      createdAt: new Date().toISOString(),
    };
    const { stored } = await s.deliveryLedger.plan(record);
    const attempt = (instance: string) => ({
      ...record,
      attempt: 1,
      instance,
      startedAt: new Date().toISOString(),
      outcome: 'running' as const,
    });
    const won = await s.deliveryLedger.update(
      { ...record, state: 'delivering', attempts: 1, leaseOwner: 'a' },
      stored.etag,
      undefined,
      attempt('a'),
    );
    expect(won?.record.leaseOwner).toBe('a');
    const lost = await s.deliveryLedger.update(
      { ...record, state: 'delivering', attempts: 1, leaseOwner: 'b' },
      stored.etag,
      undefined,
      attempt('b'),
    );
    expect(lost).toBeUndefined();
    expect((await s.deliveryLedger.get(record.date, 'elsewhere', 0, 0))?.record.leaseOwner).toBe('a');
    expect((await s.deliveryLedger.attempts(record)).map((a) => a.instance)).toEqual(['a']);
  });

  test('GET /deliveries lists the ledger, filtered by day, target and state', async () => {
    const res = await request(app).get(`/deliveries?date=${DATE}&target=blob&state=delivered`).set('Authorization', basic('exporter'));
    expect(res.status).toBe(200);
    expect(res.body.deliveries.map((d: { seq: unknown }) => d.seq)).toEqual([
      { from: 1, through: 25 },
      { from: 26, through: 28 },
    ]);
    expect(res.body.deliveries[0]).toMatchObject({
      target: 'blob',
      state: 'delivered',
      redelivery: 0,
      attempts: 1,
      path: `expenses/${DATE}/v1-${DATE}.1-25.csv`,
    });
    const failed = await request(app).get('/deliveries?state=failed').set('Authorization', basic('admin'));
    expect(failed.body.deliveries.map((d: { date: string }) => d.date)).toEqual(['2026-05-06']);
    const bad = await request(app).get('/deliveries?state=lost').set('Authorization', basic('admin'));
    expect(bad.status).toBe(400);
    expect(bad.headers['content-type']).toMatch(/application\/problem\+json/);
  });

  test('POST redeliver (admin) writes each file again under a new, suffixed name; the first ones stay as they are', async () => {
    const before = await blobBytes(c, `expenses/${DATE}/v1-${DATE}.1-25.csv`);
    expect((await request(app).post(`/deliveries/blob/${DATE}/redeliver`).set('Authorization', basic('exporter'))).status).toBe(403);
    expect((await request(app).post(`/deliveries/nope/${DATE}/redeliver`).set('Authorization', basic('admin'))).status).toBe(404);
    expect((await request(app).post(`/deliveries/blob/2026-05-30/redeliver`).set('Authorization', basic('admin'))).status).toBe(409);
    const res = await request(app).post(`/deliveries/blob/${DATE}/redeliver`).set('Authorization', basic('admin'));
    expect(res.status).toBe(202);
    expect(res.body.deliveries).toEqual([
      expect.objectContaining({ redelivery: 1, state: 'pending', requestedBy: 'admin', seq: { from: 1, through: 25 } }),
      expect.objectContaining({ redelivery: 1, state: 'pending', requestedBy: 'admin', seq: { from: 26, through: 28 } }),
    ]);
    expect((await s.deliveries.runDue()).map((r) => r.outcome)).toEqual(['delivered', 'delivered']);
    const names = (await blobNames(c)).filter((n) => n.includes(DATE));
    expect(names).toEqual(
      [`v1-${DATE}.1-25`, `v1-${DATE}.1-25-r1`, `v1-${DATE}.26-28`, `v1-${DATE}.26-28-r1`]
        .flatMap((n) => [`expenses/${DATE}/${n}.csv`, `expenses/${DATE}/${n}.csv.manifest.json`])
        .sort(),
    );
    expect((await blobBytes(c, `expenses/${DATE}/v1-${DATE}.1-25-r1.csv`)).equals(before)).toBe(true);
    expect((await blobBytes(c, `expenses/${DATE}/v1-${DATE}.1-25.csv`)).equals(before)).toBe(true);
  });

  test('Blob Storage answering 503: retried with backoff, nothing visible meanwhile, delivered once it answers again', async () => {
    const real = new URL(/BlobEndpoint=([^;]+)/.exec(azuriteConnectionString())![1]);
    let unavailable = true;
    const proxy = createServer((req, res) => {
      if (unavailable) {
        req.resume();
        res
          .writeHead(503, { 'content-type': 'application/xml' })
          .end('<?xml version="1.0"?><Error><Code>ServerBusy</Code><Message>busy</Message></Error>');
        return;
      }
      const up = httpRequest({ host: real.hostname, port: real.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    }).listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    try {
      const port = (proxy.address() as AddressInfo).port;
      const cs = azuriteConnectionString().replace(/BlobEndpoint=[^;]+/, `BlobEndpoint=http://127.0.0.1:${port}/devstoreaccount1`);
      const t = blobTarget({ name: 'flaky', connectionString: cs });
      const { s: s2 } = await deliveryServices([t]);
      const DAY = '2026-05-08';
      await seedDay(s2, DAY, 5);
      await s2.exportTable.close(DAY, new Date());
      expect((await s2.deliveries.runDue()).map((r) => r.outcome)).toEqual(['retry']);
      const [rec] = await s2.deliveries.list({ date: DAY });
      expect(rec).toMatchObject({ state: 'pending', attempts: 1, nextAttemptAt: expect.any(String) });
      expect(rec.lastError).toMatch(/busy|503/i);
      unavailable = false;
      expect(await blobNames(container(t))).toEqual([]);
      await new Promise((r) => setTimeout(r, Date.parse(rec.nextAttemptAt!) - Date.now() + 5));
      expect((await s2.deliveries.runDue()).map((r) => r.outcome)).toEqual(['delivered']);
      expect(await blobNames(container(t))).toEqual([
        `expenses/${DAY}/v1-${DAY}.1-5.csv`,
        `expenses/${DAY}/v1-${DAY}.1-5.csv.manifest.json`,
      ]);
      expect((await s2.deliveryLedger.attempts(rec)).map((a) => a.outcome)).toEqual(['retry', 'delivered']);
    } finally {
      proxy.close();
      proxy.closeAllConnections();
    }
  });
});

describe('closing and delivery', () => {
  test("an admin's close (POST /exports/{date}/close) wakes delivery at once; closing it again does not", async () => {
    const { s, app } = await deliveryServices([blobTarget()]);
    const day = '2026-05-09';
    await seedDay(s, day, 2, 'admin-close');
    const nudge = jest.spyOn(s.deliveries, 'nudge');
    try {
      const first = await request(app).post(`/exports/${day}/close`).set('Authorization', basic('admin'));
      expect(first.body).toMatchObject({ closedNow: true, closedSeq: 2 });
      expect(nudge).toHaveBeenCalledTimes(1);
      expect((await request(app).post(`/exports/${day}/close`).set('Authorization', basic('admin'))).body.closedNow).toBe(false);
      expect(nudge).toHaveBeenCalledTimes(1);
    } finally {
      nudge.mockRestore();
    }
  });
});
