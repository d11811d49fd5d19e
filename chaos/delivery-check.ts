import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { BlobServiceClient } from '@azure/storage-blob';
import { DeliveryLedger } from '../src/delivery/ledger';
import type { DeliveryTarget } from '../src/delivery/targets';
import { layoutFileSource } from '../src/delivery/layout-file-source';
import { builtInLayouts } from '../src/layouts/registry';
import { ExportTable } from '../src/export/export-table';
import { formatMinor, parseAmount } from '../src/money/money';
import { totalsJson } from '../src/export/manifest';
import type { StorageClients } from '../src/storage/clients';

/**
 * The delivery invariants of a chaos run, per closed day and target: the
 * files' seq ranges are contiguous from 1 to the day's last seq with no
 * overlap (nothing twice, nothing late left out), the first ends at the
 * close; each file holds exactly the bytes of its ?after=&through= pull,
 * its sidecar its hash, count and totals, and the sidecars' totals add up
 * to the manifest's; no .part is left; the ledger says delivered for each.
 */
export async function checkDeliveries(o: {
  clients: StorageClients;
  connectionString: string;
  targets: DeliveryTarget[];
  dates: string[];
  timeoutMs: number;
}): Promise<{ ok: boolean; lines: string[]; files: number }> {
  const exportTable = new ExportTable(o.clients.exports, 10_000, { logger: pino({ level: 'silent' }) });
  const ledger = new DeliveryLedger(o.clients.deliveries, 10_000);
  const source = layoutFileSource(exportTable, builtInLayouts('UTC'));
  const lines: string[] = [];
  let ok = true;
  let files = 0;
  const fail = (l: string) => {
    ok = false;
    lines.push(`FAILED  ${l}`);
  };
  for (const date of o.dates) {
    const m = (await exportTable.manifest(date))?.manifest;
    if (m?.closedSeq === undefined) continue;
    // Wait until every target's files reach the day's last seq, delivered.
    const end = Date.now() + o.timeoutMs;
    for (;;) {
      const recs = await ledger.list({ from: date, to: date });
      const done = o.targets.every((t) => {
        const mine = recs.filter((r) => r.record.target === t.name);
        return (
          mine.length > 0 && mine.every((r) => r.record.state === 'delivered') && Math.max(...mine.map((r) => r.record.through)) === m.seq
        );
      });
      if (done || Date.now() > end) break;
      await sleep(1000);
    }
    for (const t of o.targets) {
      const listed = await list(t, o.connectionString, date);
      const parts = listed.filter((n) => n.endsWith('.part'));
      if (parts.length) fail(`${t.name} ${date}: ${parts.length} .part file(s) left: ${parts.join(', ')}`);
      const data = listed.filter((n) => n.endsWith('.csv')).map((n) => ({ n, r: /\.(\d+)-(\d+)\.csv$/.exec(n) }));
      const ranges = data.map(({ n, r }) => ({ n, from: Number(r?.[1]), through: Number(r?.[2]) })).sort((a, b) => a.from - b.from);
      let next = 1;
      const sum: Record<string, bigint> = {};
      for (const f of ranges) {
        if (f.from !== next) fail(`${t.name} ${date}: ${f.n} starts at ${f.from}, expected ${next} (a gap or a duplicate)`);
        next = f.through + 1;
        const bytes = await read(t, o.connectionString, f.n);
        const want = await source(date, { after: f.from - 1, through: f.through }, 'v1');
        const wantBytes: Buffer[] = [];
        for await (const c of want.body()) wantBytes.push(c);
        if (!bytes.equals(Buffer.concat(wantBytes)))
          fail(`${t.name} ${date}: ${f.n} differs from its ?after=${f.from - 1}&through=${f.through} pull`);
        const sidecar = JSON.parse((await read(t, o.connectionString, `${f.n}.manifest.json`)).toString('utf8')) as {
          sha256: string;
          rowCount: number;
          totals: Record<string, string>;
          etag: string;
        };
        if (sidecar.sha256 !== createHash('sha256').update(bytes).digest('hex')) fail(`${t.name} ${date}: ${f.n}: sidecar hash differs`);
        if (sidecar.rowCount !== f.through - f.from + 1 || sidecar.etag !== want.etag)
          fail(`${t.name} ${date}: ${f.n}: sidecar count or ETag differs`);
        for (const [c, v] of Object.entries(sidecar.totals)) {
          const p = parseAmount(v, c);
          if (p.ok) sum[c] = (sum[c] ?? 0n) + p.minor;
        }
        files++;
      }
      if (ranges[0] && ranges[0].through !== m.closedSeq)
        fail(`${t.name} ${date}: the first file ends at ${ranges[0].through}, the close at ${m.closedSeq}`);
      if (next - 1 !== m.seq) fail(`${t.name} ${date}: files reach seq ${next - 1}, the day has ${m.seq}`);
      const sums = Object.fromEntries(Object.entries(sum).map(([c, v]) => [c, formatMinor(v, c)]));
      if (JSON.stringify(Object.fromEntries(Object.entries(sums).sort())) !== JSON.stringify(totalsJson(m.totals)))
        fail(`${t.name} ${date}: sidecar totals ${JSON.stringify(sums)}, manifest ${JSON.stringify(totalsJson(m.totals))}`);
      const recs = (await ledger.list({ from: date, to: date, target: t.name })).map((r) => r.record);
      if (recs.length !== ranges.length || recs.some((r) => r.state !== 'delivered'))
        fail(`${t.name} ${date}: ledger has ${recs.length} entries (${recs.map((r) => r.state).join(', ')}), ${ranges.length} files`);
      lines.push(
        `ok      ${t.name} ${date}: ${ranges.length} file(s) covering 1..${m.seq} (closed at ${m.closedSeq}), bytes, sidecars and totals match`,
      );
    }
  }
  return { ok, lines, files };
}

async function list(t: DeliveryTarget, connectionString: string, date: string): Promise<string[]> {
  if (t.kind === 'sftp') {
    const dir = join(t.path.slice(0, t.path.lastIndexOf('/')).replaceAll('{date}', date));
    return existsSync(dir) ? readdirSync(dir).map((n) => join(dir, n)) : [];
  }
  const c = BlobServiceClient.fromConnectionString(t.connectionString ?? connectionString).getContainerClient(t.container);
  const out: string[] = [];
  if (!(await c.exists())) return out;
  for await (const b of c.listBlobsFlat({ prefix: `expenses/${date}/` })) out.push(b.name);
  return out;
}

async function read(t: DeliveryTarget, connectionString: string, name: string): Promise<Buffer> {
  if (t.kind === 'sftp') return readFileSync(name);
  return BlobServiceClient.fromConnectionString(t.connectionString ?? connectionString)
    .getContainerClient(t.container)
    .getBlockBlobClient(name)
    .downloadToBuffer();
}
