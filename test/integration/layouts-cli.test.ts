/**
 * The layouts from the command line, as operators run the built bin:
 * `layouts check|list|show`, and `export --layout` writing the same bytes
 * as GET /exports/{date}?layout= (both come from openLayoutFile).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { storageEnv } from '../../harness/child-server';
import { createApp } from '../../src/app';
import { toExportRow } from '../../src/export/export-row';
import type { Expense } from '../../src/expenses/model';
import { assertBuilt, cli } from '../support/cli';
import { azuriteConnectionString, testClients, testServices, uniqueNames } from '../support/storage';
import { basic, testUsers } from '../support/users';

beforeAll(assertBuilt);
const tmp = () => mkdtempSync(join(tmpdir(), 'ee-layouts-'));

describe('expense-export layouts', () => {
  test('check: every problem of every file, naming the file and the field, exit 2; a good file is ok, exit 0', async () => {
    const dir = tmp();
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'name: bad\nversion: 1\nkind: fixed\nencoding: utf-8\ncolumns:\n  - { header: "=x", field: expense.salary }\n');
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ name: 'mine', version: 2, delimiter: '|', columns: [{ header: 'id', field: 'expense.id' }] }));
    const r = await cli(['layouts', 'check', bad, good]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}: columns.0.field: must be one of`);
    expect(r.stderr).toContain(`${bad}: columns.0.header: must not start with`);
    expect(r.stderr).toContain(`${bad}: encoding: fixed width needs a single-byte encoding`);
    const ok = await cli(['layouts', 'check', good]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`^${good}: ok \\(mine, version 2, mine@2~[0-9a-f]{8}\\)\\n$`));
  });

  test('list and show: the presets and LAYOUTS_DIR, as GET /layouts shows them', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'mine.yaml'), 'name: mine\nversion: 1\ncolumns:\n  - { header: id, field: expense.id }\n');
    const list = await cli(['layouts', 'list'], { LAYOUTS_DIR: dir });
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as Array<{ name: string }>).map((l) => l.name)).toEqual([
      'v1',
      'excel-de',
      'fixed-width-payroll',
      'gl-lines',
      'mine',
    ]);
    const show = await cli(['layouts', 'show', 'excel-de']);
    expect(JSON.parse(show.stdout)).toMatchObject({ name: 'excel-de', definition: { encoding: 'windows-1252', decimal: ',' } });
    const bad = await cli(['layouts', 'list'], { LAYOUTS_DIR: join(dir, 'missing') });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/LAYOUTS_DIR: .*missing: cannot read the directory \(ENOENT\)/);
  });
});

describe('export --layout', () => {
  test('writes exactly the bytes GET /exports/{date}?layout= sends', async () => {
    const names = uniqueNames();
    const clients = await testClients(names);
    const s = await testServices({ clients, users: await testUsers() });
    const date = '2026-06-07';
    const expense = (id: string, employee: string): Expense => ({
      id,
      employee,
      costCenter: 'CC',
      reimbursementMethod: 'cash',
      currency: 'EUR',
      employeeNumber: `P-${id}`,
      state: 'approved',
      createdAt: '',
      approvedAt: `${date}T09:00:00.000Z`,
      approver: 'boss',
      approvalDate: date,
    });
    await s.exportTable.append(toExportRow(expense('e1', 'Łukasz Żółć'), [{ description: 'd', amountMinor: 1234n, category: 'TRAVEL' }]));
    await s.exportTable.append(
      toExportRow(expense('e2', 'Dvořák'), [
        { description: 'd', amountMinor: 5n },
        { description: 'd', amountMinor: 7n },
      ]),
    );
    const app = createApp(s);
    const env = storageEnv(azuriteConnectionString(), names);
    try {
      for (const layout of ['excel-de', 'gl-lines', 'fixed-width-payroll']) {
        const out = join(tmp(), 'day');
        const r = await cli(['export', '--date', date, '--layout', layout, '--out', out], env);
        expect(r.code).toBe(0);
        const http = await request(app)
          .get(`/exports/${date}?layout=${layout}`)
          .set('Authorization', basic('exporter'))
          .set('Accept-Encoding', 'identity')
          .buffer(true)
          .parse((res, done) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => done(null, Buffer.concat(chunks)));
          });
        expect(readFileSync(out).equals(http.body as Buffer)).toBe(true);
        if (layout === 'excel-de') expect(r.stderr).toMatch(/5 characters transliterated \(latin-fold-1/);
      }
      const unknown = await cli(['export', '--date', date, '--layout', 'sap'], env);
      expect(unknown.code).not.toBe(0);
      expect(unknown.stderr).toMatch(/Unknown layout "sap"; the layouts are: v1, excel-de, fixed-width-payroll, gl-lines/);
    } finally {
      await Promise.all([s.consumer.stop(2000), s.ackApplier.stop(2000)]);
    }
  }, 90_000);
});
