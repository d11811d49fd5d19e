import { odata } from '@azure/data-tables';
import { readFileSync } from 'node:fs';
import { OUTBOX_PARTITION } from '../expenses/approval';
import { queueDepth } from '../observability/queue-depth';
import { projectFile } from '../project-root';
import { withDeadline } from '../storage/deadline';
import { config, printJson } from './common';
import { withStorage } from './storage';

const OUTBOX_COUNT_CAP = 1000;

/**
 * What storage says, as JSON for scripts. The consumer's own state lives in
 * the server process: GET /admin/status reports it.
 */
export async function statusCommand(): Promise<void> {
  const cfg = config({ requireUsers: false });
  const version = (JSON.parse(readFileSync(projectFile('package.json'), 'utf8')) as { version: string }).version;
  await withStorage(cfg, 'status', async ({ clients, description, embedded }) => {
    const t = cfg.STORAGE_TIMEOUT_MS;
    // Approvals whose enqueue has not been confirmed yet (the sweeper's work list); one partition, counted up to a cap.
    const pending = await withDeadline(t * 3, undefined, async (abortSignal) => {
      let n = 0;
      const rows = clients.outbox.listEntities({
        queryOptions: { filter: odata`PartitionKey eq ${OUTBOX_PARTITION}`, select: ['RowKey'] },
        abortSignal,
      });
      for await (const page of rows.byPage({ maxPageSize: OUTBOX_COUNT_CAP })) {
        n += page.length;
        if (n >= OUTBOX_COUNT_CAP) break;
      }
      return n;
    });
    const [main, poison] = await Promise.all([queueDepth(clients.queue, t), queueDepth(clients.poison, t)]);
    printJson({
      version,
      storage: {
        kind: cfg.storage.kind,
        description,
        ...(embedded
          ? {
              location: embedded.location,
              server: embedded.server
                ? { pid: embedded.server.pid, command: embedded.server.command, since: embedded.server.startedAt }
                : null,
            }
          : {}),
      },
      queues: { [cfg.APPROVALS_QUEUE]: main, [cfg.poisonQueue]: poison },
      outbox: { pending: pending >= OUTBOX_COUNT_CAP ? `${OUTBOX_COUNT_CAP}+` : pending },
      tables: { expenses: cfg.EXPENSES_TABLE, items: cfg.EXPENSE_ITEMS_TABLE, export: cfg.EXPORT_TABLE, outbox: cfg.OUTBOX_TABLE },
    });
  });
}
