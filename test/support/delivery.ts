import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import type { Express } from 'express';
import type { DeliveryTarget } from '../../src/delivery/targets';
import type { ServiceConfig, Services } from '../../src/services';
import { azuriteConnectionString, seedExportRows, testServices } from './storage';
import { basic, testUsers } from './users';
import { createApp } from '../../src/app';

export const PATTERN = 'expenses/{date}/{layout}-{date}.{from}-{through}.csv';

/** A blob target on the test Azurite, in a container of its own. */
export function blobTarget(overrides: Partial<DeliveryTarget> = {}): Extract<DeliveryTarget, { kind: 'blob' }> {
  return {
    name: 'blob',
    kind: 'blob',
    layout: 'v1',
    container: `deliveries-${randomBytes(4).toString('hex')}`,
    path: PATTERN,
    encryption: { kind: 'none' },
    connectionString: azuriteConnectionString(),
    ...(overrides as object),
  };
}

export function container(t: { container: string; connectionString?: string }): ContainerClient {
  return BlobServiceClient.fromConnectionString(t.connectionString ?? azuriteConnectionString()).getContainerClient(t.container);
}

export async function blobBytes(c: ContainerClient, path: string): Promise<Buffer> {
  return c.getBlockBlobClient(path).downloadToBuffer();
}

export async function blobNames(c: ContainerClient): Promise<string[]> {
  const names: string[] = [];
  if (!(await c.exists())) return names;
  for await (const b of c.listBlobsFlat()) names.push(b.name);
  return names.sort();
}

/** Services with these targets and quick retries, an app over them, and users. */
export async function deliveryServices(
  targets: DeliveryTarget[],
  config: Partial<ServiceConfig> = {},
  clients?: Services['clients'],
): Promise<{ s: Services; app: Express }> {
  const s = await testServices({
    users: await testUsers(),
    clients,
    config: {
      deliveryTargets: targets,
      webhooks: [],
      DELIVERY_RETRY_BASE_MS: 10,
      DELIVERY_MAX_ATTEMPTS: 3,
      DELIVERY_LOOKBACK_DAYS: 366,
      ...config,
    },
  });
  return { s, app: createApp(s) };
}

/** What GET /exports/{date}?… answers: the bytes and the ETag. */
export async function pull(app: Express, date: string, query: string): Promise<{ bytes: Buffer; etag: string }> {
  const res = await request(app)
    .get(`/exports/${date}?${query}`)
    .set('Authorization', basic('exporter'))
    .set('Accept-Encoding', 'identity')
    .buffer(true)
    .parse((r, done) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => done(null, Buffer.concat(chunks)));
    });
  if (res.status !== 200) throw new Error(`GET /exports/${date}?${query}: ${res.status}`);
  return { bytes: res.body as Buffer, etag: res.headers.etag };
}

/** `count` rows on `date` with ids `<prefix>-<n>` and amounts n.01 USD (some EUR). */
export function seedDay(s: Services, date: string, count: number, prefix = 'e'): Promise<void> {
  return seedExportRows(s.exportTable, date, count, (i) => ({
    expenseId: `${prefix}-${String(i).padStart(5, '0')}`,
    approvedAt: `${date}T10:00:00.000Z`,
    approver: 'boss',
    employee: i % 7 === 0 ? '=SUM(A1)' : `Ada ${i}`,
    costCenter: 'CC-1',
    reimbursementMethod: 'cash',
    currency: i % 3 === 0 ? 'EUR' : 'USD',
    amount: `${i}.01`,
  }));
}
