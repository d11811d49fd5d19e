import type { ConsumerResult } from './consumer';
import type { DeliveryBenchResult } from './delivery';
import type { ExportResult } from './export';
import type { ExportMemoryResult, SlowClientCheck } from './export-memory';
import type { HttpCpu, HttpResult } from './http';
import type { LagResult } from './lag';
import type { LayoutBenchResult } from './layouts';
import type { ResultsBenchResult } from './results';
import { round } from './support';
import type { UpgradeResult } from './upgrade';

export interface BenchResults {
  export?: ExportResult;
  export_memory?: ExportMemoryResult;
  layout?: LayoutBenchResult;
  consumer?: ConsumerResult;
  lag?: LagResult;
  results?: ResultsBenchResult;
  http?: HttpResult;
  upgrade?: UpgradeResult;
  delivery?: DeliveryBenchResult;
}

export interface ReportExtras {
  slow?: SlowClientCheck;
  httpCpu?: HttpCpu;
  defaultConcurrency: number;
  /** A --quick run proves the bench runs; its figures are not judged. */
  quick: boolean;
}

/** met: judged against the target; a string when the issue allows another way to meet it. */
type Row = [metric: string, value: string, target: string, met?: boolean | string];

const fmt = (n: number | undefined, digits = 0) =>
  n === undefined || !Number.isFinite(n) ? 'n/a' : round(n, digits).toLocaleString('en-US');

/** Rounds for the JSON file: whole units for rates and times, 2-3 digits for ratios and MB. */
export function rounded(r: BenchResults): BenchResults {
  const map = (o: Record<string, number>, digits: number) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round(v, digits)]));
  return {
    ...(r.export && {
      export: {
        rows_per_s: round(r.export.rows_per_s),
        raw_rows_per_s: round(r.export.raw_rows_per_s),
        ratio: round(r.export.ratio, 3),
        gzip_rows_per_s: round(r.export.gzip_rows_per_s),
        gzip_ratio: round(r.export.gzip_ratio, 3),
        gzip_shrink: round(r.export.gzip_shrink, 2),
      },
    }),
    ...(r.export_memory && {
      export_memory: { growth_mb_10k: round(r.export_memory.growth_mb_10k, 1), growth_mb_40k: round(r.export_memory.growth_mb_40k, 1) },
    }),
    ...(r.layout && {
      layout: {
        v1_records_per_s: round(r.layout.v1_records_per_s),
        delimited_records_per_s: round(r.layout.delimited_records_per_s),
        fixed_records_per_s: round(r.layout.fixed_records_per_s),
        items_records_per_s: round(r.layout.items_records_per_s),
        delimited_ratio: round(r.layout.delimited_ratio, 3),
        fixed_ratio: round(r.layout.fixed_ratio, 3),
        items_ratio: round(r.layout.items_ratio, 3),
        rss_growth_mb: round(r.layout.rss_growth_mb, 1),
      },
    }),
    ...(r.consumer && {
      consumer: {
        msgs_per_s: map(r.consumer.msgs_per_s, 0),
        raw_msgs_per_s: map(r.consumer.raw_msgs_per_s, 0),
        ratio: round(r.consumer.ratio, 3),
        round_ratios: r.consumer.round_ratios.map((v) => round(v, 3)),
        manifest_412_per_1000: map(r.consumer.manifest_412_per_1000, 1),
      },
    }),
    ...(r.delivery && {
      delivery: {
        bytes: r.delivery.bytes,
        blob_s: round(r.delivery.blob_s, 3),
        raw_blob_s: round(r.delivery.raw_blob_s, 3),
        blob_ratio: round(r.delivery.blob_ratio, 3),
        floor_blob_s: round(r.delivery.floor_blob_s, 3),
        floor_ratio: round(r.delivery.floor_ratio, 3),
        sftp_s: round(r.delivery.sftp_s, 3),
        raw_sftp_s: round(r.delivery.raw_sftp_s, 3),
        sftp_ratio: round(r.delivery.sftp_ratio, 3),
        blob_from_table_s: round(r.delivery.blob_from_table_s, 3),
        server_rss_growth_mb: round(r.delivery.server_rss_growth_mb, 1),
        server_rows: r.delivery.server_rows,
        server_files: r.delivery.server_files,
      },
    }),
    ...(r.lag && { lag: { p50_ms: round(r.lag.p50_ms), p99_ms: round(r.lag.p99_ms) } }),
    ...(r.results && {
      results: {
        lines_per_s: round(r.results.lines_per_s),
        raw_lines_per_s: round(r.results.raw_lines_per_s),
        ratio: round(r.results.ratio, 3),
        rss_growth_mb: round(r.results.rss_growth_mb, 1),
        rss_idle_to_peak_mb: round(r.results.rss_idle_to_peak_mb, 1),
      },
    }),
    ...(r.upgrade && {
      upgrade: {
        rows_per_s: round(r.upgrade.rows_per_s),
        raw_rows_per_s: round(r.upgrade.raw_rows_per_s),
        ratio: round(r.upgrade.ratio, 3),
      },
    }),
    ...(r.http && {
      http: {
        req_per_s: round(r.http.req_per_s),
        baseline_req_per_s: round(r.http.baseline_req_per_s),
        ratio: round(r.http.ratio, 3),
        p99_ms: round(r.http.p99_ms),
        poll_req_per_s: round(r.http.poll_req_per_s),
        raw_manifest_reads_per_s: round(r.http.raw_manifest_reads_per_s),
        poll_ratio: round(r.http.poll_ratio, 3),
      },
    }),
  };
}

/** The results as a Markdown table, so a run's output can be pasted into BENCHMARKS.md as is. */
export function table(r: BenchResults, x: ReportExtras): string {
  const rows: Row[] = [];
  if (r.export) {
    rows.push(
      ['export.rows_per_s (GET /exports, HTTP + auth)', fmt(r.export.rows_per_s), ''],
      ['export.raw_rows_per_s (SDK byPage, same query)', fmt(r.export.raw_rows_per_s), ''],
      ['export.ratio', fmt(r.export.ratio, 3), '≥ 0.90', r.export.ratio >= 0.9],
      ['export.gzip_rows_per_s (Accept-Encoding: gzip)', fmt(r.export.gzip_rows_per_s), ''],
      ['export.gzip_ratio (against the raw scan)', fmt(r.export.gzip_ratio, 3), '≥ 0.80', r.export.gzip_ratio >= 0.8],
      ['export: bytes plain / gzipped', `${fmt(r.export.gzip_shrink, 2)}×`, ''],
    );
  }
  if (r.layout) {
    const l = r.layout;
    rows.push(
      ['layout: v1 records/s (same rounds)', fmt(l.v1_records_per_s), ''],
      [
        'layout.delimited_ratio (excel-de: ;, decimal comma, dates in a zone, Windows-1252)',
        fmt(l.delimited_ratio, 3),
        '≥ 0.90',
        l.delimited_ratio >= 0.9,
      ],
      ['layout.fixed_ratio (fixed-width-payroll)', fmt(l.fixed_ratio, 3), '≥ 0.90', l.fixed_ratio >= 0.9],
      ['layout.items_ratio (gl-lines, 3 items a row, records/s)', fmt(l.items_ratio, 3), '≥ 0.80', l.items_ratio >= 0.8],
      [
        'layout.rss_growth_mb (one pull of the 20,000-row day, worst of excel-de, fixed width, gl-lines)',
        `${fmt(l.rss_growth_mb, 1)} MB`,
        '≤ 30 MB',
        l.rss_growth_mb <= 30,
      ],
    );
  }
  if (r.export_memory) {
    const { growth_mb_10k: a, growth_mb_40k: b } = r.export_memory;
    rows.push(
      ['export_memory.growth_mb_10k', `${fmt(a, 1)} MB`, '≤ 30 MB', a <= 30],
      ['export_memory.growth_mb_40k', `${fmt(b, 1)} MB`, '≤ 30 MB, within 10 MB of 10k', b <= 30 && Math.abs(a - b) <= 10],
    );
  }
  if (x.slow) {
    const s = x.slow;
    rows.push(
      [
        `slow client (${s.bytesPerS / 1024} KB/s, ${s.seconds} s): server RSS span`,
        `${fmt(s.rssSpanMb, 1)} MB`,
        'flat (≤ 5 MB)',
        s.rssSpanMb <= 5,
      ],
      [
        'slow client: table reads pause',
        `in ${s.seconds} s the server read ${fmt(s.rowsRead)} of ${fmt(s.partitionRows)} rows, the client took ${fmt(s.rowsReceived)} (the gap is socket buffers); in the second half the server read ${fmt(s.lateRowsRead)} while the client took ${fmt(s.lateRowsReceived)}`,
        'reads follow the client',
        s.paused,
      ],
    );
  }
  if (r.delivery) {
    const d = r.delivery;
    rows.push(
      [
        `delivery.blob_s / raw_blob_s (a closed day, ${fmt(d.bytes)} bytes: delivery with ledger and sidecar / raw uploadStream)`,
        `${fmt(d.blob_s, 3)} / ${fmt(d.raw_blob_s, 3)} s`,
        '',
      ],
      ['delivery.blob_ratio', fmt(d.blob_ratio, 3), '≥ 0.80', d.blob_ratio >= 0.8],
      [
        'delivery.floor_blob_s / floor_ratio (information: the fewest ordered round trips by hand — claim, hash, Put Blob, sidecar, ledger — and raw_blob_s over it, the best blob_ratio possible here)',
        `${fmt(d.floor_blob_s, 3)} s / ${fmt(d.floor_ratio, 3)}`,
        '',
      ],
      [
        'delivery.sftp_s / raw_sftp_s (delivery with .part, rename, ledger and sidecar / raw ssh2-sftp-client put, same sshd)',
        `${fmt(d.sftp_s, 3)} / ${fmt(d.raw_sftp_s, 3)} s`,
        '',
      ],
      ['delivery.sftp_ratio', fmt(d.sftp_ratio, 3), '≥ 0.80', d.sftp_ratio >= 0.8],
      ['delivery: straight from the table (read, CSV, hash, upload, sidecar; information)', `${fmt(d.blob_from_table_s, 3)} s`, ''],
      [
        `delivery.server_rss_growth_mb (a serve process redelivering a closed day of ${fmt(d.server_rows)} rows in ${d.server_files} file(s), one at a time, peak over settled)`,
        `${fmt(d.server_rss_growth_mb, 1)} MB`,
        '≤ 30 MB',
        d.server_rss_growth_mb <= 30,
      ],
    );
  }
  if (r.consumer) {
    const c = r.consumer;
    for (const level of Object.keys(c.msgs_per_s)) {
      const [real, raw] = [c.msgs_per_s[level], c.raw_msgs_per_s[level]];
      rows.push([`consumer.msgs_per_s / raw_msgs_per_s @ ${level}`, `${fmt(real)} / ${fmt(raw)} (${fmt(real / raw, 2)})`, '']);
    }
    rows.push([
      `consumer.ratio @ default ${x.defaultConcurrency} (with the manifest, against a raw loop without one; median of the pairs)`,
      `${fmt(c.ratio, 3)} (pairs: ${c.round_ratios.map((v) => fmt(v, 2)).join(', ')})`,
      '≥ 0.90 (floor 0.80)',
      c.ratio >= 0.9 ? true : c.ratio >= 0.8 ? 'floor only' : false,
    ]);
    for (const [level, v] of Object.entries(c.manifest_412_per_1000 ?? {})) {
      rows.push([`consumer: manifest 412 retries per 1,000 rows @ ${level}`, fmt(v, 1), '']);
    }
    const [best, bestRate] = Object.entries(c.msgs_per_s).sort((p, q) => q[1] - p[1])[0];
    const d = String(x.defaultConcurrency);
    rows.push([
      'consumer: fastest concurrency',
      best === d ? best : `${best} (the default ${d} reached ${fmt((100 * c.msgs_per_s[d]) / bestRate)}% of it)`,
      'the default, or the README says why not',
      best === d ? true : 'README says why',
    ]);
  }
  if (r.lag) {
    rows.push(['lag.p50_ms', fmt(r.lag.p50_ms), ''], ['lag.p99_ms', fmt(r.lag.p99_ms), '< 2,000', r.lag.p99_ms < 2000]);
  }
  if (r.results) {
    rows.push(
      ['results.lines_per_s (POST /results, 10,000 paid lines, one request)', fmt(r.results.lines_per_s), ''],
      ['results.raw_lines_per_s (SDK: the same reads and conditional writes per line)', fmt(r.results.raw_lines_per_s), ''],
      ['results.ratio', fmt(r.results.ratio, 3), '≥ 0.80', r.results.ratio >= 0.8],
      [
        'results: server RSS growth (peak of the 10,000-line file over the 1,000-line warm-up)',
        `${fmt(r.results.rss_growth_mb, 1)} MB`,
        '≤ 30 MB',
        r.results.rss_growth_mb <= 30,
      ],
      ['results: server RSS, idle to peak (information)', `${fmt(r.results.rss_idle_to_peak_mb, 1)} MB`, ''],
    );
  }
  if (r.http) {
    rows.push(
      ['http.req_per_s (GET /exports, 20 rows)', fmt(r.http.req_per_s), ''],
      ['http.baseline_req_per_s (Express hello-world)', fmt(r.http.baseline_req_per_s), ''],
      ['http.ratio (information)', fmt(r.http.ratio, 3), ''],
      ['http.p99_ms', fmt(r.http.p99_ms), ''],
      ['http.poll_req_per_s (conditional GET answered 304)', fmt(r.http.poll_req_per_s), ''],
      ['http.raw_manifest_reads_per_s (SDK point read, same concurrency)', fmt(r.http.raw_manifest_reads_per_s), ''],
      ['http.poll_ratio', fmt(r.http.poll_ratio, 3), '≥ 0.50', r.http.poll_ratio >= 0.5],
    );
    if (x.httpCpu) {
      const c = x.httpCpu;
      rows.push([
        'http: CPU per request (export server + Azurite / hello-world)',
        `${fmt(c.serverUsPerReq)} + ${fmt(c.azuriteUsPerReq)} µs / ${fmt(c.baselineUsPerReq)} µs`,
        '',
      ]);
      rows.push([
        'http: CPU per poll (server + Azurite / raw loop: SDK + Azurite)',
        `${fmt(c.pollServerUsPerReq)} + ${fmt(c.pollAzuriteUsPerReq)} µs / ${fmt(c.rawClientUsPerRead)} + ${fmt(c.rawAzuriteUsPerRead)} µs`,
        '',
      ]);
    }
  }
  if (r.upgrade) {
    rows.push(
      ['upgrade.rows_per_s (numbering a day of an earlier release: LegacyRows.number)', fmt(r.upgrade.rows_per_s), ''],
      ['upgrade.raw_rows_per_s (the same scan and transactions, raw SDK)', fmt(r.upgrade.raw_rows_per_s), ''],
      ['upgrade.ratio', fmt(r.upgrade.ratio, 3), '≥ 0.80', r.upgrade.ratio >= 0.8],
    );
  }
  const lines = ['| Measurement | Value | Target | Met |', '|---|---|---|---|'];
  const verdict = (met?: boolean | string) =>
    met === undefined ? '' : x.quick ? '(quick)' : typeof met === 'string' ? met : met ? 'yes' : '**no**';
  for (const [metric, value, target, met] of rows) lines.push(`| ${metric} | ${value} | ${target} | ${verdict(met)} |`);
  return lines.join('\n');
}
