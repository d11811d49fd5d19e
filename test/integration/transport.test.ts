import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get } from 'node:https';
import pino from 'pino';
import { loadConfig } from '../../src/config';
import { startServer, type RunningServer } from '../../src/server';
import { azuriteConnectionString, uniqueNames } from '../support/storage';
import { storageEnv } from '../../harness/child-server';
import { testUsers } from '../support/users';

/** HTTPS when TLS_CERT_FILE/TLS_KEY_FILE are set, deliberate server timeouts, orderly shutdown. */
let running: RunningServer;
let cert: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ee-tls-'));
  cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  const n = uniqueNames();
  const config = loadConfig({
    AUTH_USERS: JSON.stringify(await testUsers()),
    TLS_CERT_FILE: cert,
    TLS_KEY_FILE: key,
    PORT: '0',
    CONSUMER_ENABLED: 'false',
    ...storageEnv(azuriteConnectionString(), n),
  });
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = () => true; // keep the banner out of the test output
  try {
    running = await startServer(config, { logger: pino({ level: 'silent' }) });
  } finally {
    process.stdout.write = write;
  }
});
afterAll(() => running?.shutdown('test done'));

test('serves HTTPS with Helmet headers when a certificate is configured', async () => {
  expect(running.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  const res = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    get(`${running.url}/healthz`, { ca: readFileSync(cert) }, (r) => {
      let body = '';
      r.on('data', (c) => (body += c));
      r.on('end', () => resolve({ status: r.statusCode!, headers: r.headers, body }));
    }).on('error', reject);
  });
  expect(res.status).toBe(200);
  expect(JSON.parse(res.body)).toEqual({ status: 'ok' });
  expect(res.headers['strict-transport-security']).toBeDefined();
  expect(res.headers['x-powered-by']).toBeUndefined();
});
