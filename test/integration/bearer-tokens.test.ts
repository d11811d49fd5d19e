import { createHmac, createPublicKey } from 'node:crypto';
import request from 'supertest';
import type { StorageClients } from '../../src/storage/clients';
import type { User } from '../../src/auth/users';
import type { BearerSettings } from '../../src/auth/bearer-settings';
import type { ServiceConfig } from '../../src/services';
import { testClients, testServices } from '../support/storage';
import { basic, testUsers } from '../support/users';
import { CLIENTS, newSigningKey, oidOf, startTestIssuer, type TestIssuer } from '../support/oidc';
import { appWith as newApp, bearer, challenges, seedDay } from '../support/bearer';

/**
 * Bearer tokens through the real app, from a real OpenID provider
 * (oidc-provider in a child process) that the service discovers by its
 * discovery URL, exactly as it would Entra ID; storage is Azurite. Each
 * role, who is recorded, and every way a token is refused.
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
