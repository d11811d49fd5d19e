import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { POISON_DISCARDED_LOG } from '../../src/consumer/poison';
import { createHash } from 'node:crypto';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { hashPassword, parsePasswordHash, verifyPassword } from '../../src/auth/password';
import { encodeApproval } from '../../src/expenses/approval-message';
import { LOCK_FILE } from '../../src/storage/azurite-lock';
import { AzuriteProcess } from '../../harness/azurite-process';
import { azuriteConnectionString, seedExportRows, testClients, testServices, uniqueNames } from '../support/storage';
import { assertBuilt, cli, serve, type CliResult } from '../support/cli';
import { storageEnv as serverStorageEnv } from '../../harness/child-server';
import { PASSWORD, basic } from '../support/users';
import { waitFor } from '../support/wait';

beforeAll(assertBuilt);

const tmp = () => mkdtempSync(join(tmpdir(), 'ee-cli-'));
const json = <T>(r: CliResult): T => JSON.parse(r.stdout) as T;

/** The contract for scripts: a non-zero status and exactly one line on stderr, nothing on stdout. */
function expectOneLineFailure(r: CliResult, pattern: RegExp) {
  expect({ code: r.code === 0 ? 0 : 'non-zero', stdout: r.stdout }).toEqual({ code: 'non-zero', stdout: '' });
  expect(r.stderr.endsWith('\n')).toBe(true);
  expect(r.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^expense-export: /)]);
  expect(r.stderr).toMatch(pattern);
}

describe('input errors and help', () => {
  test.each([
    [['seed'], /required option '--count/],
    [['seed', '--count', '0'], /--count.*1 to 100000/],
    [['seed', '--count', 'many'], /--count/],
    [['seed', '--count', '5', '--date', '2026-02-30'], /real calendar date/],
    [['seed', '--count', '5', '--wait'], /--wait needs --approve/],
    [['export'], /required option '--date/],
    [['export', '--date', '26-1-1'], /real calendar date/],
    [['export', '--date', '2026-01-01', '--out', '/no/such/dir/x.csv'], /directory \/no\/such\/dir does not exist/],
    [['poison'], /list, replay or discard/],
    [['poison', 'discard'], /required option '--id/],
    [['poison', 'purge'], /unknown poison command 'purge'/],
    [['poison', 'list', '--limit', '99'], /1 to 32/],
    [['status', '--verbose'], /unknown option '--verbose'/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ])('%j fails with one line', async (args, pattern) => {
    // No storage configured and a cwd without data: input checks must come before any storage is touched.
    const cwd = tmp();
    expectOneLineFailure(await cli(args, {}, { cwd }), pattern);
    expect(existsSync(join(cwd, '.azurite'))).toBe(false);
  });

  test('a bad variable is named, with a distinct exit status', async () => {
    const r = await cli(['status'], { LOG_LEVEL: 'loud' });
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^expense-export: invalid configuration: LOG_LEVEL: /)]);
  });

  test.each([
    [[]],
    [['serve']],
    [['hash-password']],
    [['seed']],
    [['export']],
    [['poison']],
    [['poison', 'list']],
    [['poison', 'replay']],
    [['poison', 'discard']],
    [['status']],
  ])('%j --help', async (args) => {
    const r = await cli([...args, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: expense-export${args.length ? ` ${args.join(' ')}` : ''} `));
  });

  test('hash-password prints a hash that verifies', async () => {
    const r = await cli(['hash-password'], {}, { input: `${PASSWORD}\n` });
    expect(r.code).toBe(0);
    const parsed = parsePasswordHash(r.stdout.trim());
    expect(parsed).toBeDefined();
    expect(await verifyPassword(PASSWORD, parsed!)).toBe(true);
    expect(await verifyPassword('something else', parsed!)).toBe(false);
  });
});

describe('against a configured storage account (the test Azurite)', () => {
  const storageEnv = (names = uniqueNames()) => ({
    names,
    env: serverStorageEnv(azuriteConnectionString(), names),
  });

  test('seed --count 500 --approve with a server running: 500 export rows, the same CSV as GET /exports/:date', async () => {
    const { names, env } = storageEnv();
    const users = JSON.stringify([{ name: 'onprem', roles: ['exporter', 'admin'], passwordHash: await hashPassword(PASSWORD) }]);
    const server = await serve({ ...env, AUTH_USERS: users, LOG_LEVEL: 'info', CONSUMER_MAX_IDLE_MS: '200' });
    try {
      const date = '2026-03-14';
      const seeded = await cli(['seed', '--count', '500', '--date', date, '--approve', '--wait', '--wait-timeout', '150'], env, {
        timeoutMs: 170_000,
      });
      expect(seeded.stderr).toBe(''); // not a TTY: no progress bar redrawn into a log
      expect(seeded.code).toBe(0);
      expect(seeded.stdout).toMatch(/^seeded 500 expenses in [\d.]+ s \(500 approved by cli-seed, approval date 2026-03-14\)$/m);
      expect(seeded.stdout).toMatch(/^exported 500\/500 rows to Export\w+ for 2026-03-14 in [\d.]+ s$/m);

      const out = join(tmp(), 'day.csv');
      const exported = await cli(['export', '--date', date, '--out', out], env);
      expect(exported).toMatchObject({ code: 0, stderr: `expense-export: wrote 500 rows for ${date} (seq 1..500, open) to ${out}\n` });
      const file = readFileSync(out, 'utf8');
      const rows = parse<Record<string, string>>(file, { columns: true });
      expect(rows).toHaveLength(500);
      expect(new Set(rows.map((r) => r.expense_id)).size).toBe(500);
      expect(rows.every((r) => r.approver === 'cli-seed' && r.approved_at.startsWith(date))).toBe(true);

      const http = await fetch(`${server.url}/exports/${date}`, { headers: { Authorization: basic('onprem') } });
      expect(http.status).toBe(200);
      expect(await http.text()).toBe(file);
      const stdout = await cli(['export', '--date', date], env);
      expect(stdout).toMatchObject({ code: 0, stdout: file, stderr: '' });

      const status = json<{ queues: Record<string, number>; storage: { kind: string } }>(await cli(['status'], env));
      expect(status.storage.kind).toBe('connection-string');
      expect(status.queues).toEqual({ [names.APPROVALS_QUEUE]: 0, [names.poisonQueue]: 0 });

      // The built server's consumer logs: one "deleted" line per message, each traceable.
      const deleted = server
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: number; outcome?: string; expenseId?: string; dequeueCount?: number })
        .filter((l) => l.level === 30 && l.outcome === 'deleted');
      expect(deleted).toHaveLength(500);
      expect(deleted.every((l) => typeof l.expenseId === 'string' && l.dequeueCount === 1)).toBe(true);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 240_000);

  test('LOG_LEVEL=warn: the server writes no info lines (and JSON, not pretty, when stdout is not a terminal)', async () => {
    const { env } = storageEnv();
    const users = JSON.stringify([{ name: 'onprem', roles: ['exporter'], passwordHash: await hashPassword(PASSWORD) }]);
    const server = await serve({ ...env, AUTH_USERS: users, LOG_LEVEL: 'warn' });
    const res = await fetch(`${server.url}/exports/2026-01-01`);
    expect(res.status).toBe(401); // a warn-level request line
    expect(await server.stop()).toBe(0);
    const logLines = server
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(logLines.map((l) => l.level)).toContain(40);
    expect(logLines.filter((l) => l.level < 40)).toEqual([]);
  }, 60_000);

  test('poison list shows why; poison replay puts the original body back on the approval queue', async () => {
    const { names, env } = storageEnv();
    const clients = await testClients(names);
    const s = await testServices({ clients });
    const body = encodeApproval({ expenseId: 'exp-1', approvalDate: '2026-03-14' });
    await s.poison.add({
      body,
      reason: 'failed 5 times',
      code: 'retries_exhausted',
      dequeueCount: 5,
      originalMessageId: 'orig-1',
    });

    const listed = json<{ approximateCount: number; messages: Array<{ messageId: string; code: string; reason: string; body: string }> }>(
      await cli(['poison', 'list'], env),
    );
    expect(listed.approximateCount).toBe(1);
    expect(listed.messages).toEqual([expect.objectContaining({ code: 'retries_exhausted', reason: 'failed 5 times', body })]);

    const other = await cli(['poison', 'replay', '--id', 'not-a-poison-id'], env);
    expect(json(other)).toEqual({ queue: names.APPROVALS_QUEUE, replayed: [], skipped: 1 });
    const replayed = await cli(['poison', 'replay', '--id', listed.messages[0].messageId], env);
    expect(json(replayed)).toEqual({ queue: names.APPROVALS_QUEUE, replayed: [listed.messages[0].messageId], skipped: 0 });

    const peeked = await clients.queue.peekMessages({ numberOfMessages: 32 });
    expect(peeked.peekedMessageItems.map((m) => m.messageText)).toEqual([body]);
    const status = json<{ queues: Record<string, number> }>(await cli(['status'], env));
    expect(status.queues).toEqual({ [names.APPROVALS_QUEUE]: 1, [names.poisonQueue]: 0 });
  }, 60_000);

  test('poison discard deletes the given entries for good, reports unknown ids, and writes an audit line with a hash of each body', async () => {
    const { names, env } = storageEnv();
    const s = await testServices({ clients: await testClients(names) });
    for (const body of ['garbage to drop', 'keep me']) {
      await s.poison.add({
        body,
        reason: 'message body is neither JSON nor base64',
        code: 'bad_json',
        dequeueCount: 1,
        originalMessageId: 'o',
      });
    }
    const { entries } = await s.poison.list();
    const drop = entries.find((e) => e.body === 'garbage to drop')!;

    const r = await cli(['poison', 'discard', '--id', drop.messageId, 'not-a-poison-id'], env);
    expect(r.code).toBe(0);
    const sha = createHash('sha256').update('garbage to drop').digest('hex');
    const discarded = [{ messageId: drop.messageId, code: 'bad_json', bodySha256: sha }];
    expect(json(r)).toEqual({ queue: names.poisonQueue, discarded, notFound: ['not-a-poison-id'] });
    const audit = r.stderr
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit).toEqual([
      expect.objectContaining({
        level: 30,
        msg: POISON_DISCARDED_LOG,
        principal: `cli:${userInfo().username}`,
        discarded,
        notFound: ['not-a-poison-id'],
      }),
    ]);
    expect((await s.poison.list()).entries.map((e) => e.body)).toEqual(['keep me']);
  }, 60_000);
});

describe('export --out when storage fails part-way', () => {
  test('the target keeps its previous content and no partial file is left', async () => {
    // A private Azurite, since this test freezes it (SIGSTOP) mid-export.
    const azurite = await AzuriteProcess.start();
    const thaw = () => {
      try {
        azurite.resume();
      } catch {
        // already gone
      }
    };
    try {
      const names = uniqueNames();
      const clients = await testClients(names, azurite.connectionString);
      const date = '2026-05-05';
      // Five pages, so the export is still reading when storage freezes.
      await seedExportRows((await testServices({ clients })).exportTable, date, 5000, (i) => ({
        expenseId: `e${String(i).padStart(5, '0')}`,
        approvedAt: `${date}T10:00:00.000Z`,
        approver: 'a',
        employee: 'E',
        costCenter: 'CC',
        reimbursementMethod: 'cash',
        currency: 'USD',
        amount: '1.00',
      }));
      const dir = tmp();
      const out = join(dir, 'day.csv');
      writeFileSync(out, 'previous complete file\n');

      const running = cli(['export', '--date', date, '--out', out], {
        ...serverStorageEnv(azurite.connectionString, names),
        STORAGE_TIMEOUT_MS: '500',
      });
      // Freeze storage the moment the export starts writing its temporary file.
      await waitFor(async () => readdirSync(dir).some((f) => f.endsWith('.partial')), 30_000, 5);
      azurite.pause();
      const r = await running;
      thaw();

      expectOneLineFailure(r, new RegExp(`export of ${date} failed; ${out} was not written: storage did not answer within 500 ms\n$`));
      expect(readFileSync(out, 'utf8')).toBe('previous complete file\n');
      expect(readdirSync(dir)).toEqual(['day.csv']);
    } finally {
      thaw();
      await azurite.stop();
    }
  }, 90_000);
});

describe('embedded storage (nothing configured)', () => {
  test("without a server the CLI runs its own Azurite on .azurite; with one it uses the server's; a second server refuses", async () => {
    const cwd = tmp();
    const date = '2026-04-01';
    const alone = await cli(['seed', '--count', '3', '--date', date, '--approve'], {}, { cwd });
    expect(alone.code).toBe(0);
    expect(alone.stdout).toMatch(/storage: embedded Azurite started for this command, data in \.azurite\//);
    expect(alone.stdout).toMatch(/no server runs on \.azurite\/: the approvals wait in the queue/);
    expect(readdirSync(join(cwd, '.azurite'))).not.toContain(LOCK_FILE); // released on exit

    const server = await serve({ CONSUMER_MAX_IDLE_MS: '200' }, { cwd, args: ['--no-demo'] });
    try {
      const status = json<{ storage: { server: { pid: number; command: string } | null } }>(await cli(['status'], {}, { cwd }));
      expect(status.storage.server).toMatchObject({ pid: server.child.pid, command: 'serve' });

      const more = await cli(
        ['seed', '--count', '2', '--date', date, '--approve', '--wait', '--wait-timeout', '60'],
        {},
        { cwd, timeoutMs: 70_000 },
      );
      expect(more.code).toBe(0);
      expect(more.stdout).toMatch(new RegExp(`storage: embedded Azurite of expense-export serve \\(pid ${server.child.pid}\\)`));
      expect(more.stdout).toMatch(/^exported 2\/2 rows/m);

      // The 3 approvals queued while no server ran were drained by the server on its start.
      const csv = await cli(['export', '--date', date], {}, { cwd });
      expect(csv.code).toBe(0);
      expect(parse(csv.stdout, { columns: true })).toHaveLength(5);

      const second = await cli(['serve', '--no-demo'], { PORT: '0' }, { cwd });
      expectOneLineFailure(second, new RegExp(`\\.azurite is in use by process ${server.child.pid} \\(expense-export serve\\)`));

      expectOneLineFailure(
        await cli(['status'], { AZURITE_IN_MEMORY: 'true' }, { cwd }),
        /AZURITE_IN_MEMORY=true: in-memory embedded storage exists only inside `expense-export serve`/,
      );
    } finally {
      expect(await server.stop()).toBe(0);
    }
    expect(readdirSync(join(cwd, '.azurite'))).not.toContain(LOCK_FILE);
  }, 120_000);

  test.each([
    // Above the kernel's pid_max: cannot be alive, as a crashed holder leaves behind.
    ['a dead pid', 2 ** 30],
    // Alive, but nothing listens on its ports: the pid was reused after a restart (a container's pid 1).
    ['a reused pid', process.pid],
  ])(
    'a lock left behind with %s does not block',
    async (_what, pid) => {
      const cwd = tmp();
      const dir = join(cwd, '.azurite');
      mkdirSync(dir);
      writeFileSync(
        join(dir, LOCK_FILE),
        JSON.stringify({ pid, command: 'serve', startedAt: '2026-01-01T00:00:00.000Z', tablePort: 1, queuePort: 2 }),
      );
      const r = await cli(['status'], {}, { cwd });
      expect(r.code).toBe(0);
      expect(json<{ storage: { server: unknown } }>(r).storage.server).toBeNull();
    },
    60_000,
  );
});
