import { Writable } from 'node:stream';
import request from 'supertest';
import { createApp } from '../../src/app';
import { createLogger } from '../../src/observability/logger';
import { createServices } from '../../src/services';
import { createMetrics } from '../../src/observability/metrics';
import { azuriteConnectionString, testClients, testConfig } from '../support/storage';
import { basic, PASSWORD, testUsers } from '../support/users';

/** Credentials, the Authorization header and storage keys never reach a log line, even at trace level. */
test('no secret appears in any log line', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const logger = createLogger({ level: 'trace', pretty: false, destination: sink });
  const users = await testUsers();
  const clients = await testClients();
  const s = createServices(testConfig(), clients, users, logger, createMetrics({ defaultMetrics: false }));
  const app = createApp(s);

  await request(app).get('/exports/2026-01-01').set('Authorization', basic('exporter')).expect(200);
  await request(app).get('/exports/2026-01-01').set('Authorization', basic('exporter', 'wrong-password-xyz')).expect(401);
  await request(app)
    .post('/expenses')
    .set('Authorization', basic('approver'))
    .set('Cookie', 'session=abc123secret')
    .send({ bad: true })
    .expect(400);
  await request(app).get('/metrics').set('Authorization', 'Bearer some-bearer-token-value').expect(401);
  // A storage error carries the signed request; log it the way the consumer does.
  const err = await clients.expenses.getEntity('missing', 'missing').catch((e: unknown) => e);
  logger.warn({ err, connectionString: azuriteConnectionString(), password: PASSWORD }, 'storage call failed');
  logger.flush?.();
  await new Promise((r) => setImmediate(r));

  const all = lines.join('');
  expect(lines.length).toBeGreaterThan(4);
  const key = /AccountKey=([^;]+)/.exec(azuriteConnectionString())![1];
  for (const secret of [
    PASSWORD,
    'wrong-password-xyz',
    Buffer.from(`exporter:${PASSWORD}`).toString('base64'),
    Buffer.from('exporter:wrong-password-xyz').toString('base64'),
    'abc123secret',
    'some-bearer-token-value',
    key,
    'SharedKey',
    users[0].passwordHash.split('$')[5],
  ]) {
    expect(all).not.toContain(secret);
  }
  expect(all).toContain('[redacted]');
});
