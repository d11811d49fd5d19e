import { createHmac, createPublicKey } from 'node:crypto';
import { Writable } from 'node:stream';
import request from 'supertest';
import { createApp } from '../../src/app';
import type { StorageClients } from '../../src/storage/clients';
import type { User } from '../../src/auth/users';
import type { BearerSettings } from '../../src/auth/bearer-settings';
import { createServices, type ServiceConfig } from '../../src/services';
import { createLogger } from '../../src/observability/logger';
import { createMetrics } from '../../src/observability/metrics';
import { seedExportRows, testClients, testConfig, testServices } from '../support/storage';
import { basic, testUsers } from '../support/users';
import { AUDIENCE, CLIENTS, newSigningKey, oidOf, startTestIssuer, type TestIssuer } from '../support/oidc';

/**
 * Bearer tokens through the real app, from a real OpenID provider
 * (oidc-provider in a child process) that the service discovers by its
 * discovery URL, exactly as it would Entra ID; storage is Azurite.
 */

const DATE = '2026-05-04';
let issuer: TestIssuer;
let users: User[];
let clients: StorageClients;

beforeAll(async () => {
  [issuer, users, clients] = await Promise.all([startTestIssuer(), testUsers(), testClients()]);
  const s = await testServices({ users, clients });
  await seedExportRows(s.exportTable, DATE, 3, (i) => ({
    expenseId: `e${i}`,
    approvedAt: `${DATE}T10:00:00.000Z`,
    approver: 'boss',
    employee: 'Ada',
    costCenter: 'CC-1',
    reimbursementMethod: 'cash',
    currency: 'EUR',
    amount: '1.00',
  }));
});
afterAll(async () => {
  await issuer?.stop();
});

/** A new app per case: its own key cache and throttle counters, on the same storage. */
async function appWith(bearer: Partial<BearerSettings> = {}, config: Partial<ServiceConfig> = {}) {
  const s = await testServices({ users, clients, config: { bearer: issuer.settings(bearer), ...config } });
  return createApp(s, { trustProxy: 'true' });
}

const bearer = (t: string) => `Bearer ${t}`;
/** Every WWW-Authenticate header line, in order (Node would join them into one string). */
const challenges = (res: request.Response): string[] => {
  const raw = (res as unknown as { res: { rawHeaders: string[] } }).res.rawHeaders;
  return raw.flatMap((v, i) => (i % 2 === 0 && v.toLowerCase() === 'www-authenticate' ? [raw[i + 1]] : []));
};

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('one app, tokens from the provider and crafted ones', () => {
  let app: Awaited<ReturnType<typeof appWith>>;
  beforeAll(async () => {
    app = await appWith();
  });

  test.each(Object.keys(CLIENTS))('GET /exports/{date} with a client-credentials token of %s', async (client) => {
    const t = await issuer.token(client as keyof typeof CLIENTS);
    const res = await request(app).get(`/exports/${DATE}`).set('Authorization', bearer(t));
    if (client === 'exporter-app' || client === 'admin-app') {
      expect(res.status).toBe(200);
      expect(res.text.trimEnd().split('\r\n')).toHaveLength(4);
    } else {
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('forbidden');
      expect(challenges(res)).toEqual([
        'Bearer realm="expense-export", error="insufficient_scope", error_description="This operation needs one of the roles: exporter, admin."',
      ]);
    }
  });

  test('the acknowledgement and the approval record the client (azp and oid) as who', async () => {
    const ack = await request(app)
      .post(`/exports/${DATE}/acknowledgements`)
      .set('Authorization', bearer(await issuer.token('exporter-app')))
      .send({ through: 3 })
      .expect(200);
    expect(ack.body.acknowledgedBy).toBe(`app:exporter-app/${oidOf('exporter-app')}`);

    const approver = bearer(await issuer.token('approver-app'));
    const created = await request(app)
      .post('/expenses')
      .set('Authorization', approver)
      .send({ employee: 'Ada', costCenter: 'CC-1', reimbursementMethod: 'cash', items: [{ description: 'x', amount: '2.00' }] })
      .expect(201);
    const approved = await request(app).post(`/expenses/${created.body.id}/approve`).set('Authorization', approver).expect(200);
    expect(approved.body.approver).toBe(`app:approver-app/${oidOf('approver-app')}`);
  });

  test('importer and admin tokens reach their operations', async () => {
    await request(app)
      .post('/results')
      .set('Authorization', bearer(await issuer.token('importer-app')))
      .set('Content-Type', 'text/csv')
      .set('Idempotency-Key', `bearer-${Date.now()}`)
      .send('expense_id,status,amount,currency,status_at,reference,message\r\n')
      .expect(200);
    await request(app)
      .get('/admin/status')
      .set('Authorization', bearer(await issuer.token('admin-app')))
      .expect(200);
  });

  test('a delegated (user) token approves only with an app role assigned to the user; its scopes grant nothing', async () => {
    const body = { employee: 'Ada', costCenter: 'CC-1', reimbursementMethod: 'cash', items: [{ description: 'x', amount: '2.00' }] };
    const withRole = await issuer.sign(
      { scp: 'user_impersonation', oid: 'a1b2c3d4-0000-4000-8000-000000000001' },
      { client: 'approver-app' },
    );
    const id = (await request(app).post('/expenses').set('Authorization', bearer(withRole)).send(body).expect(201)).body.id as string;
    const approved = await request(app).post(`/expenses/${id}/approve`).set('Authorization', bearer(withRole)).expect(200);
    expect(approved.body.approver).toBe('user:approver-app/a1b2c3d4-0000-4000-8000-000000000001');

    const scopesOnly = await issuer.sign({ scp: 'user_impersonation Expenses.Approve', roles: [] }, { client: 'approver-app' });
    const res = await request(app).post(`/expenses/${id}/approve`).set('Authorization', bearer(scopesOnly));
    expect(res.status).toBe(403);
    expect(challenges(res)[0]).toMatch(/^Bearer realm="expense-export", error="insufficient_scope"/);
  });

  const now = () => Math.floor(Date.now() / 1000);
  const refused: [string, () => Promise<string>, string][] = [
    ['expired', () => issuer.sign({ iat: now() - 7200, nbf: now() - 7200, exp: now() - 3600 }), 'The token has expired'],
    ['not yet valid', () => issuer.sign({ nbf: now() + 3600, exp: now() + 7200 }), 'The token is not valid yet'],
    [
      'for another API (aud), from the provider',
      () => issuer.token('exporter-app', { resource: 'api://another-api' }),
      'The token is not for this API (aud)',
    ],
    ['from another issuer', () => issuer.sign({ iss: 'https://login.microsoftonline.com/evil/v2.0' }), 'The token issuer is not accepted'],
    ['from another tenant, from the provider', () => issuer.token('foreign-tenant-app'), 'The token tenant (tid) is not accepted'],
    [
      'alg none',
      async () => `${b64({ alg: 'none', typ: 'JWT' })}.${(await issuer.sign({})).split('.')[1]}.`,
      'The token signing algorithm is not accepted',
    ],
    [
      'HS256 signed with the public key as the secret',
      async () => {
        const pem = createPublicKey({ key: issuer.key.publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
        const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: issuer.key.kid })}.${(await issuer.sign({})).split('.')[1]}`;
        return `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
      },
      'The token signing algorithm is not accepted',
    ],
    [
      'tampered payload (roles raised to admin)',
      async () => {
        const [h, p, sig] = (await issuer.token('norole-app')).split('.');
        const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
        return `${h}.${b64({ ...claims, roles: ['ExpenseExport.Admin'] })}.${sig}`;
      },
      'The token signature is invalid',
    ],
    [
      'signed by a key the issuer does not publish',
      async () => issuer.sign({}, { key: await newSigningKey() }),
      'The token signing key is unknown',
    ],
    ['not a JWT', async () => 'not-a-jwt', 'The token is malformed'],
  ];

  test.each(refused)('%s: 401 with both challenges, the bearer one saying why', async (_name, make, description) => {
    const token = await make();
    const res = await request(app).get(`/exports/${DATE}`).set('Authorization', bearer(token));
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('unauthorized');
    expect(challenges(res)).toEqual([
      'Basic realm="expense-export", charset="UTF-8"',
      `Bearer realm="expense-export", error="invalid_token", error_description="${description}"`,
    ]);
    expect(JSON.stringify(res.headers) + res.text).not.toContain(token.split('.')[2] || token);
  });

  test('no credentials: both challenges, and the bearer one without an error (RFC 6750 §3.1)', async () => {
    const res = await request(app).get(`/exports/${DATE}`).expect(401);
    expect(challenges(res)).toEqual(['Basic realm="expense-export", charset="UTF-8"', 'Bearer realm="expense-export"']);
  });

  test('Basic keeps working beside tokens', async () => {
    await request(app).get(`/exports/${DATE}`).set('Authorization', basic('exporter')).expect(200);
  });

  test('a token within the clock skew is accepted', async () => {
    const t = await issuer.sign({ nbf: now() + 30, exp: now() - 30 + 600 });
    await request(app).get(`/exports/${DATE}`).set('Authorization', bearer(t)).expect(200);
    const late = await issuer.sign({ iat: now() - 700, nbf: now() - 700, exp: now() - 30 });
    await request(app).get(`/exports/${DATE}`).set('Authorization', bearer(late)).expect(200);
  });

  test('a client outside ENTRA_ALLOWED_CLIENT_IDS gets 403 even with the role', async () => {
    const only = await appWith({ allowedClientIds: ['admin-app'] });
    const res = await request(only)
      .get(`/exports/${DATE}`)
      .set('Authorization', bearer(await issuer.token('exporter-app')));
    expect(res.status).toBe(403);
    expect(challenges(res)[0]).toMatch(/error="insufficient_scope", error_description="This client may not call this API"/);
    await request(only)
      .get(`/exports/${DATE}`)
      .set('Authorization', bearer(await issuer.token('admin-app')))
      .expect(200);
  });

  test('/readyz reports the keys loaded', async () => {
    const res = await request(app).get('/readyz').expect(200);
    expect(res.body.bearerKeys).toBe('loaded');
  });
});

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
