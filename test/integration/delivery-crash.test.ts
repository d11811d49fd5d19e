/**
 * A real SIGKILL of a real server in the middle of a delivery
 * (FAULT_CRASH_AT), then a restart without the fault: each file ends under
 * its name exactly once, complete, with its sidecar, and the ledger says
 * delivered.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listening, serverEnv, spawnServer, type ServerProcess } from '../../harness/child-server';
import type { DeliveryTarget } from '../../src/delivery/targets';
import type { User } from '../../src/auth/users';
import { azuriteConnectionString, testClients, uniqueNames } from '../support/storage';
import { testUsers } from '../support/users';
import { blobBytes, blobNames, blobTarget, container, deliveryServices, pull, seedDay } from '../support/delivery';
import { sftpTargetOn, startSshd, type Sshd } from '../support/sshd';
import { waitFor } from '../support/wait';

let users: User[];
let sshd: Sshd;
const children: ServerProcess[] = [];

beforeAll(async () => {
  users = await testUsers();
  sshd = await startSshd();
});
afterAll(async () => {
  for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
  await sshd?.stop();
});

const DATE = '2026-10-01';
const FILE = `v1-${DATE}.1-1500.csv`;

type Kind = 'blob' | 'sftp';
function targetOf(kind: Kind, tag: string): DeliveryTarget {
  if (kind === 'blob') return blobTarget({ name: 'drop' });
  return sftpTargetOn(sshd, 'drop', `${tag}/{layout}-{date}.{from}-{through}.csv`);
}

/** The names under the target, and a reader of one. */
function drop(kind: Kind, t: DeliveryTarget, tag: string) {
  if (kind === 'blob') {
    const c = container(t as Extract<DeliveryTarget, { kind: 'blob' }>);
    return { names: () => blobNames(c), read: (n: string) => blobBytes(c, n), prefix: `expenses/${DATE}/` };
  }
  const dir = join(sshd.drop, tag);
  return {
    names: async () => (existsSync(dir) ? readdirSync(dir).sort() : []),
    read: async (n: string) => readFileSync(join(dir, n)),
    prefix: '',
  };
}

describe('SIGKILL mid-delivery, then a restart', () => {
  test.each([
    ['blob', 'delivery-before-commit'],
    ['blob', 'delivery-after-commit'],
    ['sftp', 'delivery-before-commit'],
    ['sftp', 'delivery-after-commit'],
  ] as const)('%s, killed at %s: one complete file under its name, its sidecar, delivered once', async (kind, point) => {
    const tag = `${kind}-${point}`;
    const names = { ...uniqueNames(), DELIVERIES_TABLE: `Deliv${Math.random().toString(36).slice(2, 10)}` };
    const target = targetOf(kind, tag);
    const { s, app } = await deliveryServices([target], {}, await testClients(names));
    await seedDay(s, DATE, 1500);
    await s.exportTable.close(DATE, new Date());
    const d = drop(kind, target, tag);
    const env = (extra: Record<string, string> = {}) =>
      serverEnv(azuriteConnectionString(), names, users, {
        DELIVERIES_TABLE: names.DELIVERIES_TABLE,
        DELIVERY_TARGETS: JSON.stringify([target]),
        DELIVERY_LOOKBACK_DAYS: '366',
        DELIVERY_INTERVAL_MS: '300',
        DELIVERY_LEASE_MS: '1500',
        ...extra,
      });

    const crashing = await spawnServer({ env: env({ FAULT_CRASH_AT: point }) });
    children.push(crashing);
    expect(await crashing.exited).toEqual({ code: null, signal: 'SIGKILL' });
    // Proof that it died where we said: before the commit nothing is under a final name; after it, the file but no sidecar.
    const atCrash = (await d.names()).filter((n) => !n.endsWith('.part'));
    expect(atCrash).toEqual(point === 'delivery-before-commit' ? [] : [`${d.prefix}${FILE}`]);
    const atCrashRecord = (await s.deliveries.list({ date: DATE }))[0];
    expect(atCrashRecord).toMatchObject({ state: 'delivering' });
    expect(atCrashRecord.committingSha256).toBeUndefined(); // a plain file is compared with its bytes; only PGP needs the note

    const healthy = await listening(spawnServer({ env: env() }));
    children.push(healthy);
    try {
      await waitFor(async () => (await s.deliveries.list({ date: DATE }))[0]?.state === 'delivered', 20_000);
    } finally {
      expect((await healthy.terminate()).code).toBe(0);
    }
    expect(await d.names()).toEqual([`${d.prefix}${FILE}`, `${d.prefix}${FILE}.manifest.json`]);
    const pulled = await pull(app, DATE, 'through=1500');
    expect((await d.read(`${d.prefix}${FILE}`)).equals(pulled.bytes)).toBe(true);
    expect(JSON.parse((await d.read(`${d.prefix}${FILE}.manifest.json`)).toString('utf8'))).toMatchObject({
      etag: pulled.etag,
      rowCount: 1500,
    });
    const [rec] = await s.deliveries.list({ date: DATE });
    expect(rec).toMatchObject({ state: 'delivered', attempts: 2 });
    expect((await s.deliveryLedger.attempts(rec)).map((a) => a.outcome)).toEqual(['running', 'delivered']);
  });
});
