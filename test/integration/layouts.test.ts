/**
 * Layouts over HTTP, against a real Azurite: every preset of one day, with
 * the day-file contract (ETag, 304, HEAD, through, gzip, Export-* headers),
 * the user's default layout, the unknown-layout problem, GET /layouts, and
 * the data path from POST /expenses (employeeNumber, categories) to a file.
 */
import { request as httpRequest, createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import request from 'supertest';
import { parseDictionary } from 'structured-headers';
import { createApp } from '../../src/app';
import { ConfigError, loadConfig } from '../../src/config';
import { toExportRow } from '../../src/export/export-row';
import { compileLayout, LayoutRegistry } from '../../src/layouts/registry';
import type { Expense, ExpenseItem } from '../../src/expenses/model';
import type { Services } from '../../src/services';
import { testExportRow, testServices } from '../support/storage';
import { basic, testUsers } from '../support/users';

let s: Services;
let app: ReturnType<typeof createApp>;
const DATE = '2026-03-04';

const expense = (id: string, employee: string, currency = 'EUR', employeeNumber?: string): Expense => ({
  id,
  employee,
  costCenter: id === 'e2' ? '=cmd|calc' : 'CC-1',
  reimbursementMethod: 'cash',
  currency,
  employeeNumber,
  state: 'approved',
  createdAt: `${DATE}T08:00:00.000Z`,
  approvedAt: `${DATE}T09:00:00.000Z`,
  approver: 'boss',
  approvalDate: DATE,
});
const items = (...xs: Array<[bigint, string?]>): ExpenseItem[] =>
  xs.map(([amountMinor, category]) => ({ description: 'd', amountMinor, category }));

beforeAll(async () => {
  const users = await testUsers();
  users.push({ name: 'payroll', roles: ['exporter'], passwordHash: users[0].passwordHash, layout: 'fixed-width-payroll' });
  s = await testServices({ users });
  app = createApp(s);
  // A row an earlier release wrote (no items, no employee number), then rows with both.
  await s.exportTable.append(testExportRow(DATE, 'a0', '5.00'));
  await s.exportTable.append(toExportRow(expense('e1', 'Łukasz Żółć', 'EUR', 'P-1'), items([1050n, 'TRAVEL'], [99n, 'MEALS'], [1n])));
  await s.exportTable.append(toExportRow(expense('e2', 'Dvořák', 'EUR', 'P-2'), items([123456n, 'LODGING'])));
  await s.exportTable.append(toExportRow(expense('e3', 'José Müller-Øst', 'JPY', 'P-3'), items([1200n, 'TRAVEL'], [34n])));
});
afterAll(async () => {
  await Promise.all([s.consumer.stop(2000), s.ackApplier.stop(2000)]);
});

const pull = (path: string, who = 'exporter') =>
  request(app)
    .get(path)
    .set('Authorization', basic(who))
    .set('Accept-Encoding', 'identity')
    .buffer(true)
    .parse(binary as never);
function binary(res: NodeJS.ReadableStream, done: (err: Error | null, body: Buffer) => void) {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => done(null, Buffer.concat(chunks)));
}
const lines = (b: Buffer, enc = 'utf8') => iconv.decode(b, enc).split(/\r\n/).slice(0, -1);

describe('GET /exports/{date}?layout=', () => {
  test('excel-de: Windows-1252, semicolons, a decimal comma, the layout in the ETag, every row and its totals', async () => {
    const res = await pull(`/exports/${DATE}?layout=excel-de`).expect(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=windows-1252');
    expect(res.headers.etag).toMatch(new RegExp(`^"${DATE}\\.0-4\\.v1\\.excel-de@1~[0-9a-f]{8}"$`));
    expect(res.headers['export-row-count']).toBe('4');
    expect(res.headers['export-layout']).toBe('excel-de; version=1');
    expect(res.headers['export-transliteration']).toBe('latin-fold-1');
    expect(res.headers['content-disposition']).toBe(`attachment; filename="expenses-${DATE}-excel-de.csv"`);
    const body = lines(res.body as Buffer, 'windows-1252');
    expect(body.slice(1).map((l) => l.split(';').slice(3, 5).concat(l.split(';')[8]))).toEqual([
      ['Ada', 'CC-1', '5,00'],
      ['Lukasz Zólc', 'CC-1', '11,50'],
      ['Dvorák', "'=cmd|calc", '1234,56'],
      ['José Müller-Øst', 'CC-1', '1234'],
    ]);
    expect(parseDictionary(res.headers['export-totals'])).toEqual(parseDictionary('eur="1246.06", jpy="1234", usd="5.00"'));
  });

  test('the trailer counts the transliterated characters', async () => {
    const server: Server = createServer(app).listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const trailers = await new Promise<NodeJS.Dict<string>>((resolve, reject) => {
        const req = httpRequest(
          { port, path: `/exports/${DATE}?layout=excel-de`, headers: { Authorization: basic('exporter'), TE: 'trailers' } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.trailers));
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(trailers['export-transliterated']).toBe('5'); // Ł Ż ł ć, ř
    } finally {
      server.close();
    }
  });

  test('gl-lines: one line per item; Export-Row-Count counts lines; the legacy row is one line with its total; lines sum to Export-Totals', async () => {
    const res = await pull(`/exports/${DATE}?layout=gl-lines`).expect(200);
    const body = lines(res.body as Buffer);
    expect(body[0]).toBe('gl_account,expense_id,line,employee_number,cost_center,category,currency,amount,posting_date');
    expect(body.slice(1)).toEqual([
      `6999,a0,1,,CC-1,,USD,5.00,${DATE}`,
      `6100,e1,1,P-1,CC-1,TRAVEL,EUR,10.50,${DATE}`,
      `6120,e1,2,P-1,CC-1,MEALS,EUR,0.99,${DATE}`,
      `6999,e1,3,P-1,CC-1,,EUR,0.01,${DATE}`,
      `6110,e2,1,P-2,'=cmd|calc,LODGING,EUR,1234.56,${DATE}`,
      `6100,e3,1,P-3,CC-1,TRAVEL,JPY,1200,${DATE}`,
      `6999,e3,2,P-3,CC-1,,JPY,34,${DATE}`,
    ]);
    expect(res.headers['export-row-count']).toBe('7');
    const sums: Record<string, bigint> = {};
    for (const l of body.slice(1)) {
      const c = l.split(',');
      sums[c[6].toLowerCase()] = (sums[c[6].toLowerCase()] ?? 0n) + BigInt(c[7].replace('.', ''));
    }
    expect(sums).toEqual({ usd: 500n, eur: 124606n, jpy: 1234n });
    expect(res.headers['export-totals']).toBe('eur="1246.06", jpy="1234", usd="5.00"');
    const head = await request(app)
      .head(`/exports/${DATE}?layout=gl-lines`)
      .set('Authorization', basic('exporter'))
      .set('Accept-Encoding', 'identity')
      .expect(200);
    expect(head.headers['export-row-count']).toBe('7');
    expect(head.headers.etag).toBe(res.headers.etag);
  });

  test('fixed-width-payroll: text/plain, documented widths, amounts in minor units', async () => {
    const res = await pull(`/exports/${DATE}?layout=fixed-width-payroll&through=2`).expect(200);
    expect(res.headers['content-type']).toBe('text/plain; charset=iso-8859-1');
    expect(lines(res.body as Buffer, 'latin1')).toEqual([
      `${''.padEnd(20)}20260304${'500'.padStart(15, '0')}USD${'1'.padStart(10, '0')}`,
      `${'P-1'.padEnd(20)}20260304${'1150'.padStart(15, '0')}EUR${'2'.padStart(10, '0')}`,
    ]);
  });

  test('304 for the same layout in any coding, never for another layout; gzip has its own ETag; v1 keeps its own', async () => {
    const excel = await pull(`/exports/${DATE}?layout=excel-de`).expect(200);
    const etag = excel.headers.etag;
    await request(app)
      .get(`/exports/${DATE}?layout=excel-de`)
      .set('Authorization', basic('exporter'))
      .set('If-None-Match', etag)
      .expect(304);
    const v1 = await request(app)
      .get(`/exports/${DATE}`)
      .set('Authorization', basic('exporter'))
      .set('Accept-Encoding', 'identity')
      .set('If-None-Match', etag);
    expect(v1.status).toBe(200);
    expect(v1.headers.etag).toBe(`"${DATE}.0-4.v1"`);
    expect((await pull(`/exports/${DATE}?layout=v1`)).headers.etag).toBe(`"${DATE}.0-4.v1"`);
    const zipped = await request(app)
      .get(`/exports/${DATE}?layout=excel-de`)
      .set('Authorization', basic('exporter'))
      .set('Accept-Encoding', 'gzip');
    expect(zipped.headers.etag).toBe(`${etag.slice(0, -1)}.gzip"`);
    const glEtag = (await pull(`/exports/${DATE}?layout=gl-lines`)).headers.etag;
    const gl304 = await request(app)
      .get(`/exports/${DATE}?layout=gl-lines`)
      .set('Authorization', basic('exporter'))
      .set('If-None-Match', glEtag);
    expect(gl304.status).toBe(304);
  });

  test("a user's default layout answers an unchanged GET; ?layout= still wins", async () => {
    const res = await pull(`/exports/${DATE}`, 'payroll').expect(200);
    expect(res.headers['content-type']).toBe('text/plain; charset=iso-8859-1');
    expect(res.headers.vary).toBe('Accept-Encoding, Authorization');
    expect((await pull(`/exports/${DATE}?layout=v1`, 'payroll')).headers['content-type']).toBe('text/csv; charset=utf-8');
  });

  test('an unknown layout is a 400 problem that lists the known ones', async () => {
    const res = await request(app).get(`/exports/${DATE}?layout=sap`).set('Authorization', basic('exporter')).expect(400);
    expect(res.body.code).toBe('unknown_layout');
    expect(res.body.errors.map((e: { layout: string }) => e.layout)).toEqual(['v1', 'excel-de', 'fixed-width-payroll', 'gl-lines']);
    const bom = await request(app).get(`/exports/${DATE}?layout=excel-de&bom=true`).set('Authorization', basic('exporter')).expect(400);
    expect(bom.body.code).toBe('bad_request');
  });
});

describe('a value wider than its fixed-width column', () => {
  test('is refused with a 422 problem before any byte, naming the row and the column; GET and HEAD alike', async () => {
    const narrow = compileLayout(
      {
        name: 'narrow',
        version: 1,
        kind: 'fixed',
        encoding: 'iso-8859-1',
        header: false,
        columns: [{ header: 'name', field: 'expense.employee', width: 6, align: 'left', pad: ' ' }],
      },
      'test',
      'UTC',
    ).layout!;
    const other = await testServices({
      clients: s.clients,
      config: { layouts: new LayoutRegistry([...s.layouts.list(), narrow]) },
      users: await testUsers(),
    });
    const app2 = createApp(other);
    const fits = await request(app2).get(`/exports/${DATE}?layout=narrow&through=1`).set('Authorization', basic('exporter')).expect(200);
    expect(fits.text).toBe('Ada   \r\n');
    const res = await request(app2).get(`/exports/${DATE}?layout=narrow`).set('Authorization', basic('exporter')).expect(422);
    expect(res.body.code).toBe('value_too_wide');
    expect(res.body.detail).toContain('row 2: the value of column "name" is 11 characters, wider than its 6');
    await request(app2).head(`/exports/${DATE}?layout=narrow`).set('Authorization', basic('exporter')).expect(422);
    await Promise.all([other.consumer.stop(2000), other.ackApplier.stop(2000)]);
  });
});

describe('GET /layouts', () => {
  test('lists every layout with its definition; one by name; an unknown one is a 404', async () => {
    const all = await request(app).get('/layouts').set('Authorization', basic('exporter')).expect(200);
    expect(all.body.layouts.map((l: { name: string }) => l.name)).toEqual(['v1', 'excel-de', 'fixed-width-payroll', 'gl-lines']);
    const one = await request(app).get('/layouts/excel-de').set('Authorization', basic('exporter')).expect(200);
    expect(one.body).toMatchObject({
      name: 'excel-de',
      version: 1,
      contentType: 'text/csv; charset=windows-1252',
      definition: { delimiter: ';', decimal: ',' },
    });
    await request(app).get('/layouts/nope').set('Authorization', basic('exporter')).expect(404);
  });
});

describe('the data layouts need', () => {
  test('POST /expenses takes an employee number and item categories, and they reach the file', async () => {
    const body = {
      employee: 'Grace',
      costCenter: 'CC-9',
      reimbursementMethod: 'check',
      currency: 'USD',
      employeeNumber: 'E-77',
      items: [
        { description: 'Taxi', amount: '12.30', category: 'TRAVEL' },
        { description: 'Lunch', amount: '7.70' },
      ],
    };
    const created = await request(app).post('/expenses').set('Authorization', basic('approver')).send(body).expect(201);
    expect(created.body).toMatchObject({ employeeNumber: 'E-77', items: [{ category: 'TRAVEL' }, { description: 'Lunch' }] });
    const bad = await request(app)
      .post('/expenses')
      .set('Authorization', basic('approver'))
      .send({ ...body, employeeNumber: '=1+1' });
    expect(bad.status).toBe(400);
  });
});

describe('a bad layout file stops the start', () => {
  test('the configuration error names the file, the field and the problem, every one of them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'layouts-'));
    try {
      writeFileSync(join(dir, 'sap.yaml'), 'name: sap\nversion: 1\ndelimiter: ":"\ncolumns:\n  - { header: id, field: expense.idd }\n');
      let err: unknown;
      try {
        loadConfig({ AZURITE_IN_MEMORY: 'true', LAYOUTS_DIR: dir });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems;
      expect(problems).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^LAYOUTS_DIR: .*sap\.yaml: delimiter: must be one of/),
          expect.stringMatching(/^LAYOUTS_DIR: .*sap\.yaml: columns\.0\.field: must be one of/),
        ]),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
