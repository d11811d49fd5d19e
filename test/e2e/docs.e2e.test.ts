import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { hashPassword } from '../../src/auth/password';
import { startAzurite, type EmbeddedAzurite } from '../../src/storage/embedded-azurite';
import { assertBuilt, cli, serve, type Served } from '../support/cli';
import { AUDIENCE, TENANT, startTestIssuer, type TestIssuer } from '../support/oidc';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, 'artifacts');
const SCREENSHOT = join(ARTIFACTS, 'swagger-exports-200.png');
const DATE = '2026-03-14';
const USER = { name: 'onprem', password: 'e2e password for the docs page' };

let azurite: EmbeddedAzurite | undefined;
let issuer: TestIssuer | undefined;
let server: Served | undefined;
let context: BrowserContext | undefined;
let profile: string | undefined;

beforeAll(async () => {
  assertBuilt();
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (this test never downloads a browser)`);
  // No watchdog: its .js exists only in dist/, and afterAll stops this Azurite.
  azurite = await startAzurite({ inMemory: true, watchdog: false });
  issuer = await startTestIssuer();
  const env = {
    ENTRA_AUDIENCES: AUDIENCE,
    ENTRA_TENANT_IDS: TENANT,
    ENTRA_DISCOVERY_URL: issuer.discoveryUrl,
    AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
    AUTH_USERS: JSON.stringify([{ name: USER.name, roles: ['exporter'], passwordHash: await hashPassword(USER.password) }]),
    CONSUMER_MAX_IDLE_MS: '200',
    LOG_LEVEL: 'warn',
  };
  server = await serve(env);
  const seeded = await cli(['seed', '--count', '5', '--date', DATE, '--approve', '--wait', '--wait-timeout', '60'], env, {
    timeoutMs: 90_000,
  });
  if (seeded.code !== 0) throw new Error(`seed failed: ${seeded.stderr}`);
  profile = mkdtempSync(join(tmpdir(), 'ee-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 1000 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  await context?.close();
  await server?.stop();
  await azurite?.stop();
  await issuer?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** Anything the page logs as an error (a CSP violation included) fails the test. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

test('Swagger UI at /docs: authorize with Basic, try GET /exports/{date}, get 200 and the CSV', async () => {
  const page = await context!.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server!.url}/docs`);

  const op = page.locator('.opblock-get').filter({ has: page.locator('.opblock-summary-path[data-path="/exports/{date}"]') });
  await op.waitFor({ state: 'visible', timeout: 20_000 });

  await page.locator('.auth-wrapper button.authorize').click();
  const modal = page.locator('.modal-ux');
  const basicAuth = modal.locator('.auth-container').filter({ hasText: 'basicAuth' });
  await basicAuth.locator('input[type="text"]').fill(USER.name);
  await basicAuth.locator('input[type="password"]').fill(USER.password);
  await basicAuth.locator('button.authorize').click();
  await basicAuth.getByText('Logout').waitFor();
  await basicAuth.locator('button.btn-done').click();
  await modal.waitFor({ state: 'detached' });

  await op.locator('.opblock-summary').click();
  await op.locator('button.try-out__btn').click();
  await op.locator('tr[data-param-name="date"] input').fill(DATE);
  await op.locator('button.execute').click();

  const live = op.locator('.live-responses-table');
  await live.locator('.response-col_status', { hasText: '200' }).first().waitFor({ timeout: 20_000 });
  const shown = await live.innerText();
  expect(shown).toMatch(/content-type: text\/csv; charset=utf-8/);
  expect(shown).toMatch(/content-disposition: attachment; filename="expenses-2026-03-14\.csv"/);

  // Content-Disposition: attachment makes Swagger UI offer the body as a file: fetch it the way a user would.
  const [download] = await Promise.all([page.waitForEvent('download'), live.getByText('Download file').click()]);
  const csv = readFileSync(await download.path(), 'utf8');
  const lines = csv.trimEnd().split('\r\n');
  expect(lines[0]).toBe('expense_id,approved_at,approver,employee,cost_center,reimbursement_method,currency,amount');
  expect(lines).toHaveLength(6);
  expect(lines.slice(1).every((l) => l.includes(`,${DATE}T`) && l.includes(',cli-seed,'))).toBe(true);

  mkdirSync(ARTIFACTS, { recursive: true });
  // The operation as the user left it, down to the server's answer: parameters, curl line, the 200 and its headers.
  await page.evaluate('window.scrollTo(0, 0)');
  const from = (await op.boundingBox())!;
  const to = (await live.boundingBox())!;
  await page.screenshot({
    path: SCREENSHOT,
    fullPage: true,
    clip: { x: from.x, y: from.y, width: from.width, height: to.y + to.height - from.y },
  });
  expect(existsSync(SCREENSHOT)).toBe(true);
  expect(errors).toEqual([]);
});

test('Swagger UI at /docs: authorize with a bearer token (as from Entra ID), and the call carries it', async () => {
  const token = await issuer!.token('exporter-app');
  const page = await context!.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server!.url}/docs`);
  const op = page.locator('.opblock-get').filter({ has: page.locator('.opblock-summary-path[data-path="/exports/{date}"]') });
  await op.waitFor({ state: 'visible', timeout: 20_000 });

  await page.locator('.auth-wrapper button.authorize').click();
  const modal = page.locator('.modal-ux');
  // The dialog offers Basic, the pasted token, and OAuth2 client credentials.
  for (const scheme of ['basicAuth', 'bearerToken', 'entraClientCredentials'])
    await modal.locator('.auth-container').filter({ hasText: scheme }).first().waitFor();
  await expect(modal.locator('.auth-container').filter({ hasText: 'entraClientCredentials' }).first().innerText()).resolves.toMatch(
    /clientCredentials/,
  );
  const bearerAuth = modal.locator('.auth-container').filter({ hasText: 'bearerToken' }).first();
  await bearerAuth.locator('input').first().fill(token);
  await bearerAuth.locator('button.authorize').click();
  await bearerAuth.getByText('Logout').waitFor();
  await modal.locator('button.btn-done').first().click();
  await modal.waitFor({ state: 'detached' });

  await op.locator('.opblock-summary').click();
  await op.locator('button.try-out__btn').click();
  await op.locator('tr[data-param-name="date"] input').fill(DATE);
  const [sent] = await Promise.all([
    page.waitForRequest((r) => r.url().includes(`/exports/${DATE}`)),
    op.locator('button.execute').click(),
  ]);
  expect(sent.headers().authorization).toBe(`Bearer ${token}`);
  const live = op.locator('.live-responses-table');
  await live.locator('.response-col_status', { hasText: '200' }).first().waitFor({ timeout: 20_000 });
  expect(await live.innerText()).toMatch(/content-type: text\/csv; charset=utf-8/);
  expect(errors).toEqual([]);
});
