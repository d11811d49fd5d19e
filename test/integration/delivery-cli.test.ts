import { assertBuilt, cli, type CliResult } from '../support/cli';
import { storageEnv } from '../../harness/child-server';
import { azuriteConnectionString, uniqueNames, testClients } from '../support/storage';
import { blobNames, blobTarget, container, deliveryServices, seedDay } from '../support/delivery';
import type { Services } from '../../src/services';

beforeAll(assertBuilt);

const json = <T>(r: CliResult): T => JSON.parse(r.stdout) as T;
type Listed = { deliveries: Array<{ state: string; redelivery: number; path: string | null; seq: { from: number; through: number } }> };

describe('expense-export deliveries', () => {
  const names = { ...uniqueNames(), DELIVERIES_TABLE: `Deliv${Date.now()}` };
  const target = blobTarget({ name: 'drop' });
  const DATE = '2026-06-01';
  let s: Services;
  const env = () => ({
    ...storageEnv(azuriteConnectionString(), names),
    DELIVERIES_TABLE: names.DELIVERIES_TABLE,
    DELIVERY_TARGETS: JSON.stringify([target]),
    DELIVERY_LOOKBACK_DAYS: '366',
  });

  beforeAll(async () => {
    ({ s } = await deliveryServices([target], {}, await testClients(names)));
    await seedDay(s, DATE, 4);
    await s.exportTable.close(DATE, new Date());
  });

  test('bad input is one line on stderr and a non-zero exit', async () => {
    for (const [args, pattern] of [
      [['deliveries'], /list or redeliver/],
      [['deliveries', 'list', '--state', 'lost'], /--state/],
      [['deliveries', 'redeliver', 'drop'], /missing required argument 'date'/],
      [['deliveries', 'redeliver', 'drop', '2026-02-30'], /real calendar date/],
    ] as const) {
      const r = await cli([...args], env());
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(pattern)]);
    }
  });

  test('list shows the ledger as GET /deliveries does; redeliver --now sends the day again under -r1, logged with who', async () => {
    const nothing = await cli(['deliveries', 'redeliver', 'drop', DATE], env());
    expect(nothing.code).not.toBe(0);
    expect(nothing.stderr).toMatch(/nothing of 2026-06-01 has been delivered to drop/);
    expect((await cli(['deliveries', 'redeliver', 'nope', DATE], env())).stderr).toMatch(/no delivery target "nope"/);

    await s.deliveries.runDue();
    const listed = json<Listed>(await cli(['deliveries', 'list', '--date', DATE, '--state', 'delivered'], env()));
    expect(listed.deliveries).toEqual([expect.objectContaining({ state: 'delivered', redelivery: 0, seq: { from: 1, through: 4 } })]);

    const r = await cli(['deliveries', 'redeliver', 'drop', DATE, '--now'], env());
    expect(r.code).toBe(0);
    expect(json<Listed>(r).deliveries).toEqual([
      expect.objectContaining({ state: 'delivered', redelivery: 1, path: `expenses/${DATE}/v1-${DATE}.1-4-r1.csv` }),
    ]);
    expect(JSON.parse(r.stderr.trim())).toMatchObject({
      msg: 'redelivery requested',
      target: 'drop',
      date: DATE,
      principal: expect.stringMatching(/^cli:/),
    });
    expect(await blobNames(container(target))).toEqual([
      `expenses/${DATE}/v1-${DATE}.1-4-r1.csv`,
      `expenses/${DATE}/v1-${DATE}.1-4-r1.csv.manifest.json`,
      `expenses/${DATE}/v1-${DATE}.1-4.csv`,
      `expenses/${DATE}/v1-${DATE}.1-4.csv.manifest.json`,
    ]);
  });
});
