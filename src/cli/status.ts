import { readFileSync } from 'node:fs';
import { projectFile } from '../project-root';
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
  await withStorage(cfg, 'status', async ({ services, description, embedded }) => {
    // Approvals whose enqueue has not been confirmed yet (the sweeper's work list), counted up to a cap.
    const pending = await services.outbox.count('approval', OUTBOX_COUNT_CAP);
    const [main, poison] = await Promise.all([services.queues.main.depth(), services.queues.poison.depth()]);
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
