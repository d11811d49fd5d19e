import { daysBetween } from '../expenses/dates';
import { SeqOutOfRangeError } from '../export/errors';
import { manifestView } from '../export/export-view';
import { emptyManifest, unacknowledgedRows } from '../export/manifest';
import { MAX_LIST_DAYS } from '../../routes/export-days';
import { CliError, config, printJson } from './common';
import { withStorage } from './storage';

/** The same JSON as GET /exports/:date/manifest. */
export async function manifestCommand(date: string): Promise<void> {
  const cfg = config({ requireUsers: false });
  await withStorage(cfg, 'manifest', async ({ services }) => {
    printJson(manifestView((await services.exportTable.manifest(date))?.manifest ?? emptyManifest(date)));
  });
}

/** The same JSON as GET /exports?from&to[&unacknowledged=true]. */
export async function daysCommand(o: { from: string; to: string; unacknowledged: boolean }): Promise<void> {
  if (o.to < o.from) throw new CliError(`--to (${o.to}) is before --from (${o.from})`);
  if (daysBetween(o.from, o.to) > MAX_LIST_DAYS)
    throw new CliError(`at most ${MAX_LIST_DAYS} days per call; ${o.from}..${o.to} is ${daysBetween(o.from, o.to)}`);
  const cfg = config({ requireUsers: false });
  await withStorage(cfg, 'days', async ({ services }) => {
    const days = (await services.exportTable.days(o.from, o.to)).filter((m) => !o.unacknowledged || unacknowledgedRows(m) > 0);
    printJson({ from: o.from, to: o.to, unacknowledged: o.unacknowledged, days: days.map(manifestView) });
  });
}

/** As POST /exports/:date/acknowledgements; the expenses move to exported in a running server's background (or the next one to start). */
export async function ackCommand(date: string, o: { through: number }): Promise<void> {
  const cfg = config({ requireUsers: false });
  await withStorage(cfg, 'ack', async ({ services }) => {
    try {
      const { manifest, newlyAcknowledged } = await services.acknowledgements.acknowledge(date, o.through, 'cli');
      printJson({ ...manifestView(manifest), newlyAcknowledged });
    } catch (err) {
      if (err instanceof SeqOutOfRangeError) throw new CliError(err.message);
      throw err;
    }
  });
}

export async function closeCommand(date: string): Promise<void> {
  const cfg = config({ requireUsers: false });
  await withStorage(cfg, 'close', async ({ services }) => {
    const { manifest, closedNow } = await services.exportTable.close(date, new Date());
    printJson({ ...manifestView(manifest), closedNow });
  });
}

export async function upgradeCommand(): Promise<void> {
  const cfg = config({ requireUsers: false });
  await withStorage(cfg, 'upgrade', async ({ services }) => {
    printJson(await services.exportTable.upgrade({ rescan: true }));
  });
}
