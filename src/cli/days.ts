import { SeqOutOfRangeError } from '../export/errors';
import { dayListView, dayRangeProblem, manifestView } from '../export/export-view';
import { emptyManifest } from '../export/manifest';
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
  const problem = dayRangeProblem(o.from, o.to);
  if (problem) throw new CliError(problem);
  const cfg = config({ requireUsers: false });
  await withStorage(cfg, 'days', async ({ services }) => {
    printJson(dayListView(o.from, o.to, o.unacknowledged, await services.exportTable.days(o.from, o.to)));
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
    const { manifest, closedNow } = await services.dayCloser.closeNow(date);
    printJson({ ...manifestView(manifest), closedNow });
  });
}

export async function upgradeCommand(): Promise<void> {
  const cfg = config({ requireUsers: false });
  await withStorage(cfg, 'upgrade', async ({ services }) => {
    printJson(await services.upgrade.rescan(new AbortController().signal));
  });
}
