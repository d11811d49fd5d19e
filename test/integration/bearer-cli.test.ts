import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storageEnv } from '../../harness/child-server';
import { azuriteConnectionString, testClients, testServices, uniqueNames } from '../support/storage';
import { assertBuilt, cli, serve, type Served } from '../support/cli';
import { AUDIENCE, TENANT, startTestIssuer, type TestIssuer } from '../support/oidc';
import { seedDay } from '../support/bearer';

/**
 * The built server (`serve`) configured only for bearer tokens (no
 * AUTH_USERS, real storage), discovering a real OpenID provider, and the CLI
 * pulling a day from it with a token, as a machine with a token but no
 * storage keys would.
 */

const DATE = '2026-05-05';
const HEADER = 'expense_id,approved_at,approver,employee,cost_center,reimbursement_method,currency,amount';
let issuer: TestIssuer;
let server: Served;
let dir: string;

beforeAll(async () => {
  assertBuilt();
  issuer = await startTestIssuer();
  const names = uniqueNames();
  await seedDay((await testServices({ clients: await testClients(names) })).exportTable, DATE, 2);
  server = await serve({
    ...storageEnv(azuriteConnectionString(), names),
    ENTRA_AUDIENCES: AUDIENCE,
    ENTRA_TENANT_IDS: TENANT,
    ENTRA_DISCOVERY_URL: issuer.discoveryUrl,
    CONSUMER_ENABLED: 'false',
    LOG_LEVEL: 'warn',
  });
  dir = mkdtempSync(join(tmpdir(), 'ee-bearer-cli-'));
}, 60_000);
afterAll(async () => {
  await server?.stop();
  await issuer?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('export --url with EXPENSE_EXPORT_TOKEN: the day file, to stdout and atomically to --out', async () => {
  const token = await issuer.token('exporter-app');
  const r = await cli(['export', '--date', DATE, '--url', server.url], { EXPENSE_EXPORT_TOKEN: token });
  expect(r).toMatchObject({ code: 0, stderr: '' });
  expect(r.stdout.trimEnd().split('\r\n')).toEqual([HEADER, expect.stringMatching(/^e0,/), expect.stringMatching(/^e1,/)]);

  const out = join(dir, 'day.csv');
  const w = await cli(['export', '--date', DATE, '--through', '1', '--out', out, '--token', token], { EXPENSE_EXPORT_URL: server.url });
  expect(w.code).toBe(0);
  expect(w.stderr).toMatch(/wrote 1 rows for 2026-05-05/);
  expect(readFileSync(out, 'utf8').trimEnd().split('\r\n')).toHaveLength(2);
});

test('refused tokens: a non-zero exit and one line saying why, never the token', async () => {
  const expired = await issuer.sign({ exp: 1 });
  const r = await cli(['export', '--date', DATE, '--url', server.url, '--token', expired]);
  expect(r.code).not.toBe(0);
  expect(r.stdout).toBe('');
  expect(r.stderr).toBe('expense-export: GET /exports/2026-05-05 answered 401 unauthorized: The token has expired\n');

  const wrongRole = await cli(['export', '--date', DATE, '--url', server.url], {
    EXPENSE_EXPORT_TOKEN: await issuer.token('importer-app'),
  });
  expect(wrongRole.stderr).toMatch(/answered 403 forbidden: This operation needs one of the roles: exporter, admin\./);

  const none = await cli(['export', '--date', DATE, '--url', server.url]);
  expect(none.stderr).toMatch(/--url needs a bearer token: --token or EXPENSE_EXPORT_TOKEN/);
});

test('the server started with bearer tokens alone is ready once the keys are loaded', async () => {
  const res = await fetch(`${server.url}/readyz`);
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ status: 'ready', bearerKeys: 'loaded' });
});
