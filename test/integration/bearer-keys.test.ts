import { Writable } from 'node:stream';
import request from 'supertest';
import { createApp } from '../../src/app';
import type { StorageClients } from '../../src/storage/clients';
import type { User } from '../../src/auth/users';
import type { BearerSettings } from '../../src/auth/bearer-settings';
import { createServices, type ServiceConfig } from '../../src/services';
import { createLogger } from '../../src/observability/logger';
import { createMetrics } from '../../src/observability/metrics';
import { testClients, testConfig, testServices } from '../support/storage';
import { basic, testUsers } from '../support/users';
import { AUDIENCE, newSigningKey, oidOf, startTestIssuer, type TestIssuer } from '../support/oidc';
import { appWith as newApp, bearer, challenges, seedDay } from '../support/bearer';

/**
 * Bearer tokens against a real OpenID provider (oidc-provider in a child
 * process), through the real app on Azurite: the issuer's keys (rotation,
 * an outage), throttling, the audience, and logs.
 */

const DATE = '2026-05-04';
let issuer: TestIssuer;
let users: User[];
let clients: StorageClients;

beforeAll(async () => {
  [issuer, users, clients] = await Promise.all([startTestIssuer(), testUsers(), testClients()]);
  await seedDay((await testServices({ users, clients })).exportTable, DATE, 3);
});
afterAll(async () => {
  await issuer?.stop();
});

const appWith = (b: Partial<BearerSettings> = {}, config: Partial<ServiceConfig> = {}) => newApp({ issuer, users, clients }, b, config);

test('key rotation: a token signed with the new key is accepted after one re-fetch of the keys', async () => {
  const app = await appWith();
  await request(app)
    .get(`/exports/${DATE}`)
    .set('Authorization', bearer(await issuer.token('exporter-app')))
    .expect(200);
  const before = await issuer.jwksHits();
  const next = await newSigningKey();
  await issuer.rotate([next, issuer.key]);
  try {
    const fresh = await issuer.token('exporter-app');
    expect(JSON.parse(Buffer.from(fresh.split('.')[0], 'base64url').toString()).kid).toBe(next.kid);
    await request(app).get(`/exports/${DATE}`).set('Authorization', bearer(fresh)).expect(200);
    await request(app).get(`/exports/${DATE}`).set('Authorization', bearer(fresh)).expect(200);
    expect(await issuer.jwksHits()).toBe(before + 1);

    // Made-up key ids right after: refused without another fetch (rate-limited), and the real one still works.
    for (let i = 0; i < 5; i++) {
      const forged = await issuer.sign({}, { key: await newSigningKey() });
      expect((await request(app).get(`/exports/${DATE}`).set('Authorization', bearer(forged))).status).toBe(401);
    }
    expect(await issuer.jwksHits()).toBe(before + 1);
    await request(app).get(`/exports/${DATE}`).set('Authorization', bearer(fresh)).expect(200);
  } finally {
    await issuer.rotate([issuer.key]);
  }
});

describe('the JWKS endpoint down', () => {
  afterEach(async () => {
    await issuer.setJwksUp(true);
  });

  test('cached keys keep working; a token with an unknown key gets 401, not 500; /readyz stays ready', async () => {
    const app = await appWith();
    const t = await issuer.token('exporter-app');
    await request(app).get(`/exports/${DATE}`).set('Authorization', bearer(t)).expect(200);
    await issuer.setJwksUp(false);

    await request(app).get(`/exports/${DATE}`).set('Authorization', bearer(t)).expect(200);
    const unknown = await issuer.sign({}, { key: await newSigningKey() });
    const res = await request(app).get(`/exports/${DATE}`).set('Authorization', bearer(unknown));
    expect(res.status).toBe(401);
    expect(challenges(res)[1]).toBe(
      'Bearer realm="expense-export", error="invalid_token", error_description="The signing key is unknown and the issuer keys cannot be fetched now"',
    );
    const ready = await request(app).get('/readyz').expect(200);
    expect(ready.body.bearerKeys).toBe('loaded');
  });

  test('keys never loaded: /readyz says so (503), and a valid token gets 401', async () => {
    await issuer.setJwksUp(false);
    const app = await appWith();
    const ready = await request(app).get('/readyz').expect(503);
    expect(ready.body).toMatchObject({ status: 'not_ready', storage: 'ok', bearerKeys: 'never_loaded' });
    const res = await request(app)
      .get(`/exports/${DATE}`)
      .set('Authorization', bearer(await issuer.token('exporter-app')));
    expect(res.status).toBe(401);
    expect(challenges(res)[1]).toMatch(
      /error="invalid_token", error_description="The signing key is unknown and the issuer keys cannot be fetched now"/,
    );
  });
});

describe('throttling', () => {
  // 3 failures per (name, address), 10 per address.
  const BUDGETS = { AUTH_MAX_FAILURES: 3, AUTH_MAX_FAILURES_PER_ADDRESS: 10, AUTH_FAILURE_WINDOW_S: 900 };
  const pull = (app: Awaited<ReturnType<typeof appWith>>, from: string, auth: string) =>
    request(app).get(`/exports/${DATE}`).set('X-Forwarded-For', from).set('Authorization', auth);

  test('a storm of bad tokens from one address meets 429; a Basic user and a valid token from another address get in', async () => {
    const app = await appWith({}, BUDGETS);
    const STORM = '203.0.113.77';
    const hits = await issuer.jwksHits();
    const statuses: number[] = [];
    for (let i = 0; i < 14; i++) {
      const bad = i % 2 ? await issuer.sign({}, { key: await newSigningKey() }) : await issuer.sign({ exp: 1 });
      statuses.push((await pull(app, STORM, bearer(bad))).status);
    }
    expect(statuses).toEqual([...Array<number>(10).fill(401), 429, 429, 429, 429]);
    const blocked = await pull(app, STORM, bearer('still-bad'));
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    // The storm's made-up key ids caused at most the one first load and one re-fetch.
    expect((await issuer.jwksHits()) - hits).toBeLessThanOrEqual(2);

    await pull(app, '192.0.2.20', basic('exporter')).expect(200);
    await pull(app, '192.0.2.21', bearer(await issuer.token('exporter-app'))).expect(200);
    // A valid token is checked before the limits: not even the storm's own address refuses it.
    await pull(app, STORM, bearer(await issuer.token('exporter-app'))).expect(200);
  });

  test('bad tokens never lock out a Basic user (no per-name count); a Basic lockout never blocks a valid token', async () => {
    const app = await appWith({}, BUDGETS);
    const SHARED = '198.51.100.30';
    for (let i = 0; i < 5; i++) expect((await pull(app, SHARED, bearer(`bad-${i}`))).status).toBe(401);
    await pull(app, SHARED, basic('exporter')).expect(200);

    const GUESSER = '198.51.100.31';
    const guesses: number[] = [];
    for (let i = 0; i < 4; i++) guesses.push((await pull(app, GUESSER, basic('exporter', `wrong-${i}`))).status);
    expect(guesses).toEqual([401, 401, 401, 429]);
    await pull(app, GUESSER, bearer(await issuer.token('exporter-app'))).expect(200);
  });
});

test('ES256 is accepted only when ENTRA_ALGORITHMS lists it', async () => {
  const ec = await newSigningKey('ES256');
  await issuer.rotate([issuer.key, ec]);
  try {
    const token = await issuer.sign({}, { key: ec, alg: 'ES256' });
    const strict = await appWith();
    const res = await request(strict).get(`/exports/${DATE}`).set('Authorization', bearer(token));
    expect(res.status).toBe(401);
    expect(challenges(res)[1]).toMatch(/error_description="The token signing algorithm is not accepted"/);
    const open = await appWith({ algorithms: ['RS256', 'ES256'] });
    await request(open).get(`/exports/${DATE}`).set('Authorization', bearer(token)).expect(200);
  } finally {
    await issuer.rotate([issuer.key]);
  }
});

test('the audience may be the client id instead of the App ID URI', async () => {
  const app = await appWith({ audiences: ['8d1c0f2e-3b7a-4c55-9a0e-2f6d4b1e7c90'] });
  await request(app)
    .get(`/exports/${DATE}`)
    .set('Authorization', bearer(await issuer.sign({ aud: '8d1c0f2e-3b7a-4c55-9a0e-2f6d4b1e7c90' })))
    .expect(200);
  const res = await request(app)
    .get(`/exports/${DATE}`)
    .set('Authorization', bearer(await issuer.sign({ aud: AUDIENCE })));
  expect(res.status).toBe(401);
});

test('tokens never reach a log line, even at trace level; the request line names the principal', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const logger = createLogger({ level: 'trace', pretty: false, destination: sink });
  const s = createServices(testConfig({ bearer: issuer.settings() }), clients, users, logger, createMetrics({ defaultMetrics: false }));
  const app = createApp(s);
  const good = await issuer.token('exporter-app');
  const expired = await issuer.sign({ exp: 1 });
  await request(app).get(`/exports/${DATE}`).set('Authorization', bearer(good)).expect(200);
  await request(app).get(`/exports/${DATE}`).set('Authorization', bearer(expired)).expect(401);
  await request(app).get(`/exports/${DATE}`).set('Authorization', bearer('opaque-not-a-jwt-value')).expect(401);
  logger.flush?.();
  await new Promise((r) => setImmediate(r));

  const all = lines.join('');
  for (const secret of [good, expired, 'opaque-not-a-jwt-value', ...good.split('.'), expired.split('.')[2]])
    expect(all).not.toContain(secret);
  const done = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request completed');
  expect(done.map((l) => [l.res.statusCode, l.principal])).toEqual([
    [200, `app:exporter-app/${oidOf('exporter-app')}`],
    [401, undefined],
    [401, undefined],
  ]);
});
