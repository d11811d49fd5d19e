/**
 * GET /exports/:date while storage fails. Before the first byte: a 503
 * problem within about 5 s, never a hang. After the first page: the
 * connection is cut, so the client sees a broken transfer rather than a
 * clean 200 with a truncated file. Own Azurite (on disk, no watchdog).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import { once } from 'node:events';
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApp } from '../../src/app';
import type { Services } from '../../src/services';
import { AzuriteProcess } from '../../harness/azurite-process';
import { seedExportRows, testClients, testServices, uniqueNames } from '../support/storage';
import { basic, PASSWORD, testUsers } from '../support/users';

const DATE = '2026-03-14';
const ROWS = 2500; // three table pages of at most 1000

let azurite: AzuriteProcess;
let dir: string;
let s: Services;
let server: Server;
let base: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'export-outage-'));
  azurite = await AzuriteProcess.start(dir);
  s = await testServices({
    users: await testUsers(),
    clients: await testClients(uniqueNames(), azurite.connectionString),
    config: { STORAGE_TIMEOUT_MS: 4000 },
  });
  await seedExportRows(s.exportTable, DATE, ROWS, (i) => ({
    expenseId: `exp-${String(i).padStart(5, '0')}`,
    approvedAt: `${DATE}T10:00:00.000Z`,
    approver: 'approver',
    employee: 'Ada Lovelace',
    costCenter: 'CC-100',
    reimbursementMethod: 'direct_deposit',
    currency: 'USD',
    amount: '12.30',
  }));
  await azurite.persisted(Date.now()); // the rows must survive the SIGKILLs below
  server = createServer(createApp(s)).listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  server?.closeAllConnections();
  server?.close();
  await azurite?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Download {
  status: number;
  headers: Record<string, unknown>;
  body: string;
  /** The response ended as HTTP says it should (last chunk or full Content-Length). */
  complete: boolean;
  error?: string;
  ms: number;
}

/** Reads the whole response, however it ends. */
function download(path: string): Promise<Download> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = get(`${base}${path}`, { headers: { authorization: basic('exporter') } }, (res) => {
      let body = '';
      let error: string | undefined;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('error', (err) => (error = err.message));
      res.on('close', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body, complete: res.complete, error, ms: Date.now() - t0 }),
      );
    });
    req.on('error', reject);
  });
}

/**
 * Runs `fault` on the real Azurite just before the export's second page
 * request leaves (a request with a continuation token), once. Socket buffers
 * on loopback hold this whole partition, so a fault timed by the client
 * could land after the last page was read; this one cannot. Only the timing
 * is ours: the failure is Azurite's own.
 */
function faultBeforeSecondPage(fault: () => unknown): () => void {
  const name = 'test-fault-before-second-page';
  let fired = false;
  s.clients.exports.pipeline.addPolicy({
    name,
    async sendRequest(request, next) {
      if (!fired && request.url.includes('NextRowKey')) {
        fired = true;
        await fault();
      }
      return next(request);
    },
  });
  return () => s.clients.exports.pipeline.removePolicy({ name });
}

const lines = (d: Download) => d.body.split('\r\n').filter(Boolean).length;

test('with storage up, the whole partition arrives complete (the control for the faults below)', async () => {
  const d = await download(`/exports/${DATE}`);
  expect(d).toMatchObject({ status: 200, complete: true });
  expect(lines(d)).toBe(ROWS + 1);
});

test('storage SIGKILLed after the first page: the transfer breaks, it does not end cleanly', async () => {
  const remove = faultBeforeSecondPage(() => azurite.kill());
  try {
    const d = await download(`/exports/${DATE}`);
    expect(d.status).toBe(200);
    expect(d.complete).toBe(false);
    expect(d.error).toBeDefined();
    expect(lines(d)).toBeGreaterThan(1);
    expect(lines(d)).toBeLessThan(ROWS + 1);
  } finally {
    remove();
    await azurite.restart();
  }
});

/** Runs a real client to completion: its exit code and what it said. */
function client(cmd: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, _stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}

test.each([
  ['curl --compressed', 'curl', (url: string) => ['-fsS', '--compressed', '-u', `exporter:${PASSWORD}`, '-o', '/dev/null', url]],
  [
    'Python requests (gzip by default)',
    'python3',
    (url: string) => [
      '-c',
      `import requests; r = requests.get("${url}", auth=("exporter", "${PASSWORD}")); r.raise_for_status(); print(len(r.content))`,
    ],
  ],
] as const)(
  'gzip, storage SIGKILLed after the first page: the transfer fails for %s, it does not end cleanly',
  async (_name, cmd, args) => {
    const remove = faultBeforeSecondPage(() => azurite.kill());
    try {
      const r = await client(cmd, args(`${base}/exports/${DATE}`));
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(
        /transfer closed|outstanding read data|Connection broken|IncompleteRead|ChunkedEncodingError|unexpected EOF|error/i,
      );
    } finally {
      remove();
      await azurite.restart();
    }
  },
);

test('gzip with storage up: curl --compressed gets every row, the same bytes as a plain pull (the control for the faults above)', async () => {
  const curl = (...extra: string[]) =>
    new Promise<{ code: number | null; stdout: string; encoding: string }>((resolve) => {
      execFile(
        'curl',
        // The response's Content-Encoding goes to stderr, so that stdout is the body alone.
        ['-fsS', ...extra, '-w', '%{stderr}%header{content-encoding}', '-u', `exporter:${PASSWORD}`, `${base}/exports/${DATE}`],
        { maxBuffer: 64 * 1024 * 1024 },
        (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, encoding: stderr }),
      );
    });
  const [gzipped, plain] = [await curl('--compressed'), await curl()];
  expect([gzipped, plain].map((r) => [r.code, r.encoding])).toEqual([
    [0, 'gzip'],
    [0, ''],
  ]);
  expect(gzipped.stdout.split('\r\n').filter(Boolean)).toHaveLength(ROWS + 1);
  expect(gzipped.stdout).toEqual(plain.stdout);
});

test('storage hung (SIGSTOP) after the first page: the transfer breaks by the storage deadline, it does not hang', async () => {
  const remove = faultBeforeSecondPage(() => azurite.pause());
  try {
    const d = await download(`/exports/${DATE}`);
    expect(d).toMatchObject({ status: 200, complete: false });
    expect(lines(d)).toBeLessThan(ROWS + 1);
    expect(d.ms).toBeLessThan(10_000);
  } finally {
    remove();
    azurite.resume();
  }
});

test('storage unreachable (SIGKILL) before the first byte: a 503 problem, quickly', async () => {
  await azurite.kill();
  try {
    const d = await download(`/exports/${DATE}`);
    expect(d.status).toBe(503);
    expect(d.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(d.headers['retry-after']).toBe('5');
    expect(JSON.parse(d.body)).toMatchObject({ status: 503, code: 'storage_unavailable' });
    expect(d.ms).toBeLessThan(5000);
  } finally {
    await azurite.restart();
  }
});

test('storage hung (SIGSTOP) before the first byte: a 503 problem within about 5 s', async () => {
  azurite.pause();
  try {
    const d = await download(`/exports/${DATE}`);
    expect(d.status).toBe(503);
    expect(JSON.parse(d.body)).toMatchObject({ code: 'storage_unavailable' });
    expect(d.ms).toBeLessThan(6000); // STORAGE_TIMEOUT_MS is 4000
  } finally {
    azurite.resume();
  }
  await sleep(100);
  const after = await download(`/exports/${DATE}`);
  expect(after).toMatchObject({ status: 200, complete: true });
});
