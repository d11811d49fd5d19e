import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Express } from 'express';
import type { Services } from '../../src/services';
import { readRecipientKey } from '../../src/delivery/pgp';
import { blobBytes, blobNames, blobTarget, container, deliveryServices, pull, seedDay } from '../support/delivery';
import { makeGpgRecipient, type GpgRecipient } from '../support/gpg';

let recipient: GpgRecipient;
let home: string;
let publicKeyFile: string;
beforeAll(() => {
  recipient = makeGpgRecipient();
  ({ home, publicKeyFile } = recipient);
});
afterAll(() => recipient?.remove());

describe('PGP-encrypted delivery', () => {
  const target = blobTarget({ name: 'pgp-drop', encryption: { kind: 'pgp', recipientKeyFile: '' } });
  const c = container(target);
  let s: Services;
  let app: Express;

  beforeAll(async () => {
    const t = { ...target, encryption: { kind: 'pgp' as const, recipientKeyFile: publicKeyFile } };
    ({ s, app } = await deliveryServices([t]));
  });

  test('the file is named .pgp, gpg --decrypt gives exactly the ?through= bytes, and the sidecar hashes the plaintext', async () => {
    expect((await readRecipientKey(publicKeyFile)).keyPacket.version).toBe(4);
    const DATE = '2026-08-01';
    await seedDay(s, DATE, 500);
    await s.exportTable.close(DATE, new Date());
    expect((await s.deliveries.runDue()).map((r) => [r.outcome, r.record.lastError])).toEqual([['delivered', undefined]]);
    const path = `expenses/${DATE}/v1-${DATE}.1-500.csv.pgp`;
    expect(await blobNames(c)).toEqual([path, `${path}.manifest.json`]);
    const encrypted = await blobBytes(c, path);
    const pulled = await pull(app, DATE, 'through=500');
    expect(encrypted.includes(pulled.bytes.subarray(0, 64))).toBe(false);
    const decrypted = recipient.decrypt(encrypted);
    expect(decrypted.equals(pulled.bytes)).toBe(true);
    const sidecar = JSON.parse((await blobBytes(c, `${path}.manifest.json`)).toString('utf8'));
    expect(sidecar).toMatchObject({
      encryption: 'pgp',
      sha256: createHash('sha256').update(pulled.bytes).digest('hex'),
      bytes: pulled.bytes.length,
      etag: pulled.etag,
      file: `v1-${DATE}.1-500.csv.pgp`,
    });
  });

  test('resumed after a crash past the commit: the ledger hash recorded before it proves the (unreadable) file is ours', async () => {
    const DATE = '2026-08-02';
    await seedDay(s, DATE, 20);
    await s.exportTable.close(DATE, new Date());
    await s.deliveries.runDue();
    const stored = (await s.deliveryLedger.get(DATE, 'pgp-drop', 0, 0))!;
    const path = stored.record.path!;
    const before = await c.getBlockBlobClient(path).getProperties();
    await s.deliveryLedger.update(
      { ...stored.record, state: 'delivering', leaseUntil: new Date(Date.now() - 1).toISOString(), deliveredAt: undefined },
      stored.etag,
    );
    expect((await s.deliveries.runDue()).map((r) => r.outcome)).toEqual(['delivered']);
    expect((await c.getBlockBlobClient(path).getProperties()).etag).toBe(before.etag);
  });

  test('a key file that is not there fails the attempt with a reason, and nothing is written', async () => {
    const broken = blobTarget({ name: 'nokey', encryption: { kind: 'pgp', recipientKeyFile: join(home, 'missing.asc') } });
    const { s: s2 } = await deliveryServices([broken]);
    const DATE = '2026-08-03';
    await seedDay(s2, DATE, 2);
    await s2.exportTable.close(DATE, new Date());
    expect((await s2.deliveries.runDue()).map((r) => r.outcome)).toEqual(['retry']);
    expect((await s2.deliveries.list({ date: DATE }))[0].lastError).toMatch(/missing\.asc/);
    expect(await blobNames(container(broken))).toEqual([]);
  });
});
