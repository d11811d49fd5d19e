import request from 'supertest';
import { createApp } from '../../src/app';
import { createMetrics } from '../../src/observability/metrics';
import { createServices, type Services } from '../../src/services';
import { dateInZone } from '../../src/expenses/dates';
import { silentLogger, testClients, testConfig } from '../support/storage';
import { basic, testUsers } from '../support/users';
import { waitFor } from '../support/wait';

const TOKEN = 'scraper-token-0123456789';

let s: Services;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  // Default (process) metrics on, as in production.
  s = createServices(testConfig({ METRICS_TOKEN: TOKEN }), await testClients(), await testUsers(), silentLogger, createMetrics());
  app = createApp(s);
});
afterAll(async () => {
  await s.consumer.stop(2000);
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format, enough of it for our own output: `name{a="b",...} value`. */
function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2]!;
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

async function scrape(): Promise<(name: string, labels?: Record<string, string>) => number | undefined> {
  const res = await request(app).get('/metrics').set('Authorization', basic('admin'));
  expect(res.status).toBe(200);
  const samples = parseMetrics(res.text);
  return (name, labels = {}) => {
    const hits = samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
    return hits.length ? hits.reduce((a, x) => a + x.value, 0) : undefined;
  };
}

describe('GET /metrics', () => {
  test('is open to the admin role or the METRICS_TOKEN bearer, to nobody else', async () => {
    expect((await request(app).get('/metrics')).status).toBe(401);
    expect((await request(app).get('/metrics').set('Authorization', basic('exporter'))).status).toBe(403);
    expect((await request(app).get('/metrics').set('Authorization', `Bearer ${TOKEN}x`)).status).toBe(401);
    const viaToken = await request(app).get('/metrics').set('Authorization', `Bearer ${TOKEN}`);
    expect(viaToken.status).toBe(200);
    expect(viaToken.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(viaToken.text).toMatch(/^# HELP /m);
  });

  test('counters move after approvals, exports and a poisoned message', async () => {
    const main = s.clients.queue.name;
    const poison = s.clients.poison.name;
    const before = await scrape();
    const approvalDates = new Set<string>();

    for (let i = 0; i < 3; i++) {
      const created = await request(app)
        .post('/expenses')
        .set('Authorization', basic('approver'))
        .send({ employee: 'Ada', costCenter: 'CC-1', reimbursementMethod: 'cash', items: [{ description: 'Taxi', amount: '1.10' }] });
      expect(created.status).toBe(201);
      const approved = await request(app).post(`/expenses/${created.body.id}/approve`).set('Authorization', basic('approver'));
      expect(approved.status).toBe(200);
      approvalDates.add(dateInZone(new Date(approved.body.approvedAt), 'UTC'));
    }
    await s.clients.queue.sendMessage('not an approval');

    // The consumer has not started: the depth gauge (refreshed on a timer in the server) shows the backlog.
    await s.depths.refresh();
    const queued = await scrape();
    expect(queued('queue_depth', { queue: main })).toBe(4);
    expect(queued('queue_depth', { queue: poison })).toBe(0);

    s.consumer.start();
    const deleted = () => s.metrics.registry.getSingleMetricAsString('consumer_messages_total');
    await waitFor(async () => /outcome="deleted"} 3/.test(await deleted()) && /outcome="poisoned"} 1/.test(await deleted()), 15000);

    let rows = 0;
    for (const date of approvalDates) {
      const csv = await request(app).get(`/exports/${date}`).set('Authorization', basic('exporter'));
      expect(csv.status).toBe(200);
      rows += csv.text.trimEnd().split('\r\n').length - 1;
    }
    expect(rows).toBe(3);
    await s.depths.refresh();
    const after = await scrape();

    const delta = (name: string, labels?: Record<string, string>) => (after(name, labels) ?? 0) - (before(name, labels) ?? 0);
    expect(delta('http_requests_total', { method: 'POST', route: '/expenses', status: '201' })).toBe(3);
    expect(delta('http_requests_total', { method: 'POST', route: '/expenses/:id/approve', status: '200' })).toBe(3);
    expect(delta('http_requests_total', { method: 'GET', route: '/exports/:date', status: '200' })).toBe(approvalDates.size);
    expect(delta('http_request_duration_seconds_count', { method: 'GET', route: '/exports/:date' })).toBe(approvalDates.size);
    expect(delta('consumer_messages_total', { outcome: 'deleted' })).toBe(3);
    expect(delta('consumer_messages_total', { outcome: 'poisoned' })).toBe(1);
    expect(delta('consumer_handler_duration_seconds_count')).toBe(4);
    expect(delta('approval_to_export_lag_seconds_count')).toBe(3);
    expect(delta('approval_to_export_lag_seconds_sum')).toBeGreaterThan(0);
    expect(delta('export_rows_streamed_total')).toBe(3);
    expect(after('queue_depth', { queue: main })).toBe(0);
    expect(after('queue_depth', { queue: poison })).toBe(1);
    // Process metrics (prom-client defaults).
    expect(after('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(after('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(after('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(after('nodejs_eventloop_lag_seconds')).toBeDefined();
  });
});

test('every known outcome is exported at 0 from the start, so an alert on increase() sees the first one after a restart', async () => {
  const fresh = createServices(testConfig(), await testClients(), await testUsers(), silentLogger, createMetrics());
  const res = await request(createApp(fresh)).get('/metrics').set('Authorization', basic('admin'));
  for (const outcome of ['deleted', 'retried', 'poisoned', 'lost', 'abandoned']) {
    expect(res.text).toMatch(new RegExp(`^consumer_messages_total\\{outcome="${outcome}"\\} 0$`, 'm'));
  }
  for (const outcome of ['applied', 'noop', 'unknown_expense', 'invalid_transition', 'amount_mismatch', 'bad_row']) {
    expect(res.text).toMatch(new RegExp(`^results_lines_total\\{outcome="${outcome}"\\} 0$`, 'm'));
  }
  expect(res.text).toMatch(/^export_late_rows_total 0$/m);
});
