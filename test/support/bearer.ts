import request from 'supertest';
import { createApp } from '../../src/app';
import type { StorageClients } from '../../src/storage/clients';
import type { User } from '../../src/auth/users';
import type { BearerSettings } from '../../src/auth/bearer-settings';
import type { ServiceConfig } from '../../src/services';
import type { ExportTable } from '../../src/export/export-table';
import { seedExportRows, testServices } from './storage';
import type { TestIssuer } from './oidc';

export const bearer = (t: string) => `Bearer ${t}`;

/** Every WWW-Authenticate header line, in order (Node would join them into one string). */
export const challenges = (res: request.Response): string[] => {
  const raw = (res as unknown as { res: { rawHeaders: string[] } }).res.rawHeaders;
  return raw.flatMap((v, i) => (i % 2 === 0 && v.toLowerCase() === 'www-authenticate' ? [raw[i + 1]] : []));
};

/** `count` export rows on `date` (ids e0, e1, …). */
export const seedDay = (exportTable: ExportTable, date: string, count: number) =>
  seedExportRows(exportTable, date, count, (i) => ({
    expenseId: `e${i}`,
    approvedAt: `${date}T10:00:00.000Z`,
    approver: 'boss',
    employee: 'Ada',
    costCenter: 'CC-1',
    reimbursementMethod: 'cash',
    currency: 'EUR',
    amount: '1.00',
  }));

/** A new app per call: its own key cache and throttle counters, on the given storage; bearer tokens from `issuer`. */
export async function appWith(
  ctx: { issuer: TestIssuer; users: User[]; clients: StorageClients },
  bearerSettings: Partial<BearerSettings> = {},
  config: Partial<ServiceConfig> = {},
) {
  const s = await testServices({
    users: ctx.users,
    clients: ctx.clients,
    config: { bearer: ctx.issuer.settings(bearerSettings), ...config },
  });
  return createApp(s, { trustProxy: 'true' });
}
