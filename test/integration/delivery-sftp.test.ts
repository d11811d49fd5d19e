import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Express } from 'express';
import { createHash } from 'node:crypto';
import { Deliverer } from '../../src/delivery/deliverer';
import { DeliveryTask } from '../../src/delivery/delivery-task';
import type { FileSource } from '../../src/delivery/file-source';
import { layoutFileSource } from '../../src/delivery/layout-file-source';
import { sinkFactory } from '../../src/delivery-wiring';
import { silentLogger } from '../support/storage';
import { waitFor } from '../support/wait';
import type { DeliveryTarget } from '../../src/delivery/targets';
import type { Services } from '../../src/services';
import { deliveryServices, pull, seedDay } from '../support/delivery';
import { freePort, sftpTargetOn, startSshd, type Sshd } from '../support/sshd';
import { SftpSink } from '../../src/delivery/sftp-sink';
import { makeGpgRecipient } from '../support/gpg';

let sshd: Sshd;
beforeAll(async () => {
  sshd = await startSshd();
});
afterAll(async () => {
  await sshd?.stop();
});

const sftpTarget = (over: Partial<Extract<DeliveryTarget, { kind: 'sftp' }>> = {}): DeliveryTarget =>
  sftpTargetOn(sshd, 'onprem', `{date}/{layout}-{date}.{from}-{through}.csv`, over);

/** Every file under a folder, recursively, relative to it. */
function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

const metricValue = async (s: Services, name: string, labels: Record<string, string>) =>
  (await s.metrics.registry.getSingleMetric(name)?.get())?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    ?.value;

describe('delivery to a real OpenSSH sshd', () => {
  let s: Services;
  let app: Express;

  test('the ?through= bytes land under the final name via a .part and a rename; the sidecar follows; nothing else is left', async () => {
    ({ s, app } = await deliveryServices([sftpTarget()]));
    const DATE = '2026-07-01';
    await seedDay(s, DATE, 40);
    await s.exportTable.close(DATE, new Date());
    expect((await s.deliveries.runDue()).map((r) => [r.outcome, r.record.lastError])).toEqual([['delivered', undefined]]);
    const name = `${DATE}/v1-${DATE}.1-40.csv`;
    expect(files(join(sshd.drop, DATE))).toEqual([`v1-${DATE}.1-40.csv`, `v1-${DATE}.1-40.csv.manifest.json`]);
    const pulled = await pull(app, DATE, 'through=40');
    expect(readFileSync(join(sshd.drop, name)).equals(pulled.bytes)).toBe(true);
    expect(JSON.parse(readFileSync(join(sshd.drop, `${name}.manifest.json`), 'utf8'))).toMatchObject({ etag: pulled.etag, rowCount: 40 });
    expect(await s.deliveries.runDue()).toEqual([]);
  });

  test('a host key other than the configured one is refused before anything is sent, and the delivery fails at once', async () => {
    ({ s } = await deliveryServices([
      sftpTarget({ hostKeyFingerprint: `SHA256:${'A'.repeat(43)}`, path: `${sshd.drop}/mitm/{date}.{from}-{through}.csv` }),
    ]));
    const DATE = '2026-07-02';
    await seedDay(s, DATE, 3);
    await s.exportTable.close(DATE, new Date());
    expect((await s.deliveries.runDue()).map((r) => r.outcome)).toEqual(['failed']);
    expect(files(join(sshd.drop, 'mitm'))).toEqual([]);
    const [rec] = await s.deliveries.list({ date: DATE });
    expect(rec).toMatchObject({ state: 'failed', errorCode: 'host_key_mismatch', attempts: 1 });
    expect(rec.lastError).toContain(sshd.fingerprint);
    expect(await metricValue(s, 'delivery_attempts_total', { target: 'onprem', outcome: 'failed' })).toBe(1);
    expect(await s.deliveries.runDue()).toEqual([]); // not tried again
    expect(await metricValue(s, 'deliveries_failed', { target: 'onprem' })).toBe(1);
  });

  test('a refused connection is retried with backoff, then the delivery is failed: ledger, gauge and attempts say so', async () => {
    ({ s } = await deliveryServices([sftpTarget({ port: await freePort() })], { DELIVERY_MAX_ATTEMPTS: 2, DELIVERY_RETRY_BASE_MS: 10 }));
    const DATE = '2026-07-03';
    await seedDay(s, DATE, 3);
    await s.exportTable.close(DATE, new Date());
    expect((await s.deliveries.runDue()).map((r) => r.outcome)).toEqual(['retry']);
    const [pending] = await s.deliveries.list({ date: DATE });
    expect(pending).toMatchObject({ state: 'pending', errorCode: 'sftp_connect', nextAttemptAt: expect.any(String) });
    await new Promise((r) => setTimeout(r, Date.parse(pending.nextAttemptAt!) - Date.now() + 5));
    expect((await s.deliveries.runDue()).map((r) => r.outcome)).toEqual(['failed']);
    const [failed] = await s.deliveries.list({ date: DATE });
    expect(failed).toMatchObject({ state: 'failed', attempts: 2, errorCode: 'sftp_connect' });
    expect((await s.deliveryLedger.attempts(failed)).map((a) => a.outcome)).toEqual(['retry', 'failed']);
    await s.deliveries.runDue();
    expect(await metricValue(s, 'deliveries_failed', { target: 'onprem' })).toBe(1);
    expect(await metricValue(s, 'delivery_attempts_total', { target: 'onprem', outcome: 'failed' })).toBe(1);
  });

  test('permission denied (a read-only folder): nothing under the final name, the reason recorded, delivered once allowed', async () => {
    const ro = join(sshd.drop, 'readonly');
    mkdirSync(ro);
    chownSync(ro, sshd.uid, sshd.gid);
    chmodSync(ro, 0o555);
    ({ s } = await deliveryServices([sftpTarget({ path: `${ro}/{date}.{from}-{through}.csv` })]));
    const DATE = '2026-07-04';
    await seedDay(s, DATE, 3);
    await s.exportTable.close(DATE, new Date());
    expect((await s.deliveries.runDue()).map((r) => r.outcome)).toEqual(['retry']);
    expect(files(ro)).toEqual([]);
    expect((await s.deliveries.list({ date: DATE }))[0]).toMatchObject({ state: 'pending', errorCode: 'permission_denied' });
    chmodSync(ro, 0o755);
    await new Promise((r) => setTimeout(r, 50));
    expect((await s.deliveries.runDue()).map((r) => r.outcome)).toEqual(['delivered']);
    expect(files(ro)).toEqual([`${DATE}.1-3.csv`, `${DATE}.1-3.csv.manifest.json`]);
  });

  test('disk full (a 64 KiB tmpfs): the .part is checked and removed, nothing under the final name', async () => {
    const full = join(sshd.drop, 'full');
    mkdirSync(full);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=64k,uid=${sshd.uid},gid=${sshd.gid},mode=0755`, 'tmpfs', full]);
    try {
      ({ s } = await deliveryServices([sftpTarget({ path: `${full}/{date}.{from}-{through}.csv` })]));
      const DATE = '2026-07-05';
      await seedDay(s, DATE, 2000); // ~140 KB of CSV
      await s.exportTable.close(DATE, new Date());
      expect((await s.deliveries.runDue()).map((r) => r.outcome)).toEqual(['retry']);
      expect(files(full)).toEqual([]);
      const [rec] = await s.deliveries.list({ date: DATE });
      expect(rec.state).toBe('pending');
      // OpenSSH took the writes without complaint: the size check after the upload is what caught it.
      expect(rec.errorCode).toBe('size_mismatch');
    } finally {
      execFileSync('umount', [full]);
    }
  });

  test('sshd killed mid-upload: no file under the final name; after it is back, delivered once, the stale .part gone', async () => {
    ({ s } = await deliveryServices([]));
    const target = sftpTarget({ path: `${sshd.drop}/cut/{date}.{from}-{through}.csv` });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let reached!: () => void;
    const halfway = new Promise<void>((r) => (reached = r));
    const v1 = layoutFileSource(s.exportTable, s.layouts);
    let first = true;
    // The same bytes as v1, but the first attempt stops after its first chunk until the test says go.
    const gated: FileSource = async (...args) => {
      const f = await v1(...args);
      const hold = first;
      first = false;
      return {
        ...f,
        body: async function* () {
          let n = 0;
          for await (const chunk of f.body()) {
            yield chunk;
            if (hold && n++ === 0) {
              reached();
              await gate;
            }
          }
        },
      };
    };
    const deliverer = new Deliverer({
      ledger: s.deliveryLedger,
      source: gated,
      sinkFor: sinkFactory(s.clients, silentLogger),
      targets: [target],
      instance: 'test',
      leaseMs: 60_000,
      maxAttempts: 5,
      retryBaseMs: 10,
      logger: silentLogger,
    });
    const task = new DeliveryTask({
      exportTable: s.exportTable,
      ledger: s.deliveryLedger,
      deliverer,
      targets: [target],
      timeZone: 'UTC',
      lookbackDays: 366,
      intervalMs: 3_600_000,
      logger: silentLogger,
    });
    const DATE = '2026-07-06';
    await seedDay(s, DATE, 3000);
    await s.exportTable.close(DATE, new Date());
    const run = task.runDue();
    await halfway;
    await waitFor(async () => files(join(sshd.drop, 'cut')).some((f) => f.endsWith('.part')));
    sshd.kill();
    release();
    expect((await run).map((r) => r.outcome)).toEqual(['retry']);
    expect(files(join(sshd.drop, 'cut')).filter((f) => !f.endsWith('.part'))).toEqual([]);
    await sshd.restart();
    await new Promise((r) => setTimeout(r, 50));
    expect((await task.runDue()).map((r) => r.outcome)).toEqual(['delivered']);
    expect(files(join(sshd.drop, 'cut'))).toEqual([`${DATE}.1-3000.csv`, `${DATE}.1-3000.csv.manifest.json`]);
    const bytes = readFileSync(join(sshd.drop, 'cut', `${DATE}.1-3000.csv`));
    const sidecar = JSON.parse(readFileSync(join(sshd.drop, 'cut', `${DATE}.1-3000.csv.manifest.json`), 'utf8'));
    expect(sidecar).toMatchObject({ bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), rowCount: 3000 });
  });

  test('a file that appears under the final name after the check is never replaced: the rename refuses, put says exists', async () => {
    // The window a writer that lost its lease would race through: its check passed, then another writer committed.
    const sink = new SftpSink(sftpTarget() as Extract<DeliveryTarget, { kind: 'sftp' }>, silentLogger);
    const dir = join(sshd.drop, 'race');
    const final = join(dir, 'day.csv');
    try {
      const put = await sink.put(
        final,
        [Buffer.from('late writer\n')],
        async () => writeFileSync(final, 'first writer\n'),
        new AbortController().signal,
      );
      expect(put).toBe('exists');
      expect(readFileSync(final, 'utf8')).toBe('first writer\n');
      expect(files(dir)).toEqual(['day.csv']);
    } finally {
      await sink.close();
    }
  });

  test('PGP over SFTP: the .pgp file decrypts with gpg to exactly the ?through= bytes; the sidecar hashes the plaintext', async () => {
    const recipient = makeGpgRecipient();
    try {
      const target = sftpTarget({
        name: 'onprem',
        path: `${sshd.drop}/pgp/{date}.{from}-{through}.csv`,
        encryption: { kind: 'pgp', recipientKeyFile: recipient.publicKeyFile },
      });
      ({ s, app } = await deliveryServices([target]));
      const DATE = '2026-07-07';
      await seedDay(s, DATE, 200);
      await s.exportTable.close(DATE, new Date());
      expect((await s.deliveries.runDue()).map((r) => [r.outcome, r.record.lastError])).toEqual([['delivered', undefined]]);
      const name = `${DATE}.1-200.csv.pgp`;
      expect(files(join(sshd.drop, 'pgp'))).toEqual([name, `${name}.manifest.json`]);
      const pulled = await pull(app, DATE, 'through=200');
      expect(recipient.decrypt(readFileSync(join(sshd.drop, 'pgp', name))).equals(pulled.bytes)).toBe(true);
      expect(JSON.parse(readFileSync(join(sshd.drop, 'pgp', `${name}.manifest.json`), 'utf8'))).toMatchObject({
        encryption: 'pgp',
        sha256: createHash('sha256').update(pulled.bytes).digest('hex'),
        etag: pulled.etag,
      });
    } finally {
      recipient.remove();
    }
  });
});
