import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import pino from 'pino';
import SftpClient from 'ssh2-sftp-client';
import { BlobServiceClient } from '@azure/storage-blob';
import { Deliverer } from '../src/delivery/deliverer';
import type { DeliveryFile, FileSource } from '../src/delivery/file-source';
import { DeliveryLedger, type DeliveryRecord } from '../src/delivery/ledger';
import type { DeliveryTarget } from '../src/delivery/targets';
import { layoutFileSource } from '../src/delivery/layout-file-source';
import { builtInLayouts } from '../src/layouts/registry';
import { sinkFactory } from '../src/delivery-wiring';
import { SFTP_USER, sftpTargetOn, startSshd } from '../harness/sshd-process';
import { DATE, type ExportFixture } from './export-fixture';
import { deliveryMemory } from './delivery-memory';
import { BENCH_STORAGE_TIMEOUT_MS, benchExportTable, median, timed, type BenchContext } from './support';

export interface DeliveryBenchResult {
  bytes: number;
  /** Seconds per delivery of the same bytes (from memory) through the whole machinery: ledger claim, hash, upload, sidecar, ledger. */
  blob_s: number;
  /** Seconds per raw BlockBlobClient.uploadStream of the same bytes. */
  raw_blob_s: number;
  blob_ratio: number;
  /**
   * Seconds for the fewest ordered round trips any ledgered delivery needs, by hand with the SDKs and
   * nothing else: create the delivery already claimed, hash, one Put Blob (If-None-Match: *), the
   * sidecar after it, the "delivered" record after that. Information: it shows what of blob_ratio's gap
   * is the order itself and what is our machinery.
   */
  floor_blob_s: number;
  /** raw_blob_s / floor_blob_s: the best blob_ratio a delivery with a ledger and a sidecar could reach here. */
  floor_ratio: number;
  sftp_s: number;
  /** Seconds per raw ssh2-sftp-client connect + put + end of the same bytes to the same sshd. */
  raw_sftp_s: number;
  sftp_ratio: number;
  /** Information: one delivery straight from the table (read, CSV, hash, upload, sidecar). */
  blob_from_table_s: number;
  /** A `serve` process's RSS, peak over its settled baseline, while it redelivers the closed day (delivery-memory.ts). */
  server_rss_growth_mb: number;
  server_rows: number;
  server_files: number;
}

const CHUNK = 64 * 1024;
const chunks = (b: Buffer): Buffer[] =>
  Array.from({ length: Math.ceil(b.length / CHUNK) }, (_, i) => b.subarray(i * CHUNK, (i + 1) * CHUNK));

/**
 * delivery.blob_ratio and delivery.sftp_ratio: a closed 20,000-row day,
 * delivered again and again under new names (redeliveries), against a raw
 * upload of the very same bytes to the same place, interleaved round by
 * round. The delivery's source serves the bytes from memory, as the raw
 * upload does, so the ratio is the cost of the delivery itself; one more
 * delivery straight from the table is information.
 */
export async function benchDelivery(ctx: BenchContext, fixture: ExportFixture): Promise<DeliveryBenchResult> {
  const rows = ctx.quick ? 2_000 : 20_000;
  const rounds = ctx.quick ? 1 : 5;
  // A blob delivery takes tens of milliseconds here, where one GC pause or a neighbour's burst moves a
  // single round's ratio from 0.3 to 2 (seen in full runs); more rounds of it cost under a second each.
  const blobRounds = ctx.quick ? 1 : 21;
  await fixture.grow(rows);
  const exportTable = benchExportTable(fixture.clients);
  await exportTable.close(DATE, new Date());
  const v1 = layoutFileSource(exportTable, builtInLayouts('UTC'));
  const file = await v1(DATE, { through: rows }, 'v1');
  const parts: Buffer[] = [];
  for await (const c of file.body()) parts.push(c);
  const bytes = Buffer.concat(parts);
  const fromMemory: FileSource = async (): Promise<DeliveryFile> => ({ ...file, body: () => Readable.from(chunks(bytes)) });

  const sshd = await startSshd();
  try {
    const container = `bench-${randomBytes(4).toString('hex')}`;
    const blob: DeliveryTarget = {
      name: 'blob',
      kind: 'blob',
      layout: 'v1',
      container,
      path: 'bench/{date}.{from}-{through}.csv',
      encryption: { kind: 'none' },
      connectionString: ctx.connectionString,
    };
    const sftp: DeliveryTarget = sftpTargetOn(sshd, 'sftp', `{date}.{from}-{through}.csv`);
    const logger = pino({ level: 'silent' });
    const ledger = new DeliveryLedger(fixture.clients.deliveries, BENCH_STORAGE_TIMEOUT_MS);
    const deliverer = (source: FileSource) =>
      new Deliverer({
        ledger,
        source,
        sinkFor: sinkFactory({ source: { kind: 'connection-string', connectionString: ctx.connectionString } }, logger),
        targets: [blob, sftp],
        instance: 'bench',
        leaseMs: 600_000,
        maxAttempts: 1,
        retryBaseMs: 1000,
        logger,
      });
    const memory = deliverer(fromMemory);
    let n = 0;
    const deliver = async (d: Deliverer, target: string) => {
      const r: DeliveryRecord = {
        target,
        date: DATE,
        layout: 'v1',
        after: 0,
        through: rows,
        redelivery: ++n,
        state: 'pending',
        attempts: 0,
        createdAt: new Date().toISOString(),
      };
      // As the delivery task runs a file it finds missing: planned and claimed in one step, then delivered.
      const { outcome: o } = await d.deliverNew(r, new AbortController().signal);
      if (o.outcome !== 'delivered') throw new Error(`bench delivery to ${target}: ${o.outcome} ${o.error ?? ''}`);
    };
    const blobContainer = BlobServiceClient.fromConnectionString(ctx.connectionString).getContainerClient(container);
    await blobContainer.createIfNotExists();
    const rawBlob = async () => {
      await blobContainer.getBlockBlobClient(`raw/${++n}.csv`).uploadStream(Readable.from(chunks(bytes)), 4 * 1024 * 1024, 4);
    };
    const floorBlob = async () => {
      const k = ++n;
      const entity = { partitionKey: 'floor', rowKey: `floor-${k}`, state: 'delivering', leaseOwner: 'bench' };
      const created = await fixture.clients.deliveries.createEntity(entity);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      await blobContainer.getBlockBlobClient(`floor/${k}.csv`).upload(bytes, bytes.length, { conditions: { ifNoneMatch: '*' } });
      const sidecar = Buffer.from(JSON.stringify({ sha256, bytes: bytes.length, file: `${k}.csv` }, null, 2));
      await blobContainer.getBlockBlobClient(`floor/${k}.csv.json`).upload(sidecar, sidecar.length, { conditions: { ifNoneMatch: '*' } });
      await fixture.clients.deliveries.updateEntity({ ...entity, state: 'delivered', sha256 }, 'Replace', { etag: created.etag });
    };
    const rawSftp = async () => {
      const c = new SftpClient('bench', { error: () => undefined, end: () => undefined, close: () => undefined });
      await c.connect({ host: '127.0.0.1', port: sshd.port, username: SFTP_USER, privateKey: readFileSync(sshd.userKeyFile) });
      await c.put(Readable.from(chunks(bytes)), `${sshd.drop}/raw-${++n}.csv`);
      await c.end();
    };
    // Warm: JIT, connections, the container.
    await deliver(memory, 'blob');
    await rawBlob();
    await floorBlob();
    await deliver(memory, 'sftp');
    await rawSftp();
    const t = { blob: [] as number[], rawBlob: [] as number[], floorBlob: [] as number[], sftp: [] as number[], rawSftp: [] as number[] };
    type Step = [keyof typeof t, () => Promise<void>];
    const blobSteps: Step[] = [
      ['blob', () => deliver(memory, 'blob')],
      ['rawBlob', rawBlob],
      ['floorBlob', floorBlob],
    ];
    const sftpSteps: Step[] = [
      ['sftp', () => deliver(memory, 'sftp')],
      ['rawSftp', rawSftp],
    ];
    for (let i = 0; i < Math.max(rounds, blobRounds); i++) {
      const steps = i < rounds ? [...blobSteps, ...sftpSteps] : blobSteps;
      for (let k = 0; k < steps.length; k++) {
        const [key, fn] = steps[(i + k) % steps.length];
        t[key].push((await timed(fn)).seconds);
      }
      const sftpRound = i < rounds ? `, sftp ${t.sftp[i].toFixed(3)} s (raw ${t.rawSftp[i].toFixed(3)})` : '';
      ctx.say(
        `delivery: round ${i + 1}: blob ${t.blob[i].toFixed(3)} s (raw ${t.rawBlob[i].toFixed(3)}, floor ${t.floorBlob[i].toFixed(3)})${sftpRound}`,
      );
    }
    const fromTable = deliverer(v1);
    const e2e: number[] = [];
    for (let i = 0; i < (ctx.quick ? 1 : 3); i++) e2e.push((await timed(() => deliver(fromTable, 'blob'))).seconds);
    const serverMemory = await deliveryMemory(ctx, fixture, ctx.quick ? 1 : 3);
    return {
      bytes: bytes.length,
      blob_s: median(t.blob),
      raw_blob_s: median(t.rawBlob),
      blob_ratio: median(t.rawBlob.map((raw, i) => raw / t.blob[i])),
      floor_blob_s: median(t.floorBlob),
      floor_ratio: median(t.rawBlob.map((raw, i) => raw / t.floorBlob[i])),
      sftp_s: median(t.sftp),
      raw_sftp_s: median(t.rawSftp),
      sftp_ratio: median(t.rawSftp.map((raw, i) => raw / t.sftp[i])),
      blob_from_table_s: median(e2e),
      server_rss_growth_mb: serverMemory.growth_mb,
      server_rows: serverMemory.rows,
      server_files: serverMemory.files,
    };
  } finally {
    await sshd.stop();
  }
}
