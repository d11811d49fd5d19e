import { userInfo } from 'node:os';
import pino from 'pino';
import { POISON_DISCARDED_LOG } from '../consumer/poison';
import { config, printJson } from './common';
import { withStorage } from './storage';

/** Same output as GET /admin/poison: a peek, so listing never hides messages from a replay. */
export async function poisonListCommand(o: { limit: number }): Promise<void> {
  const cfg = config({ requireUsers: false });
  await withStorage(cfg, 'poison list', async ({ services }) => {
    const { entries, approximateCount } = await services.poison.list(o.limit);
    printJson({ queue: cfg.poisonQueue, approximateCount, messages: entries });
  });
}

/** Same effect as POST /admin/poison/replay: back to the main queue, send first and delete second. */
export async function poisonReplayCommand(o: { max?: number; id?: string[] }): Promise<void> {
  const cfg = config({ requireUsers: false });
  await withStorage(cfg, 'poison replay', async ({ services, consumer, embedded }) => {
    const ids = o.id && o.id.length > 0 ? new Set(o.id) : undefined;
    const result = await services.poison.replay(o.max ?? ids?.size ?? 32, ids);
    printJson({ queue: cfg.APPROVALS_QUEUE, ...result });
    if (consumer === 'none' && result.replayed.length > 0) {
      process.stderr.write(
        `expense-export: no server runs on ${embedded?.location}/; the replayed messages are handled when \`expense-export serve\` starts\n`,
      );
    }
  });
}

/**
 * Same effect as POST /admin/poison/discard: deletes the entries for good. The
 * result goes to stdout; the audit line (who, which ids, a SHA-256 of each
 * body), in the server's log format, to stderr.
 */
export async function poisonDiscardCommand(o: { id: string[] }): Promise<void> {
  const cfg = config({ requireUsers: false });
  await withStorage(cfg, 'poison discard', async ({ services }) => {
    const result = await services.poison.discard(new Set(o.id));
    const principal = `cli:${userInfo().username}`;
    pino({ base: { component: 'cli' } }, pino.destination({ dest: 2, sync: true })).info(
      { principal, discarded: result.discarded, notFound: result.notFound },
      POISON_DISCARDED_LOG,
    );
    printJson({ queue: cfg.poisonQueue, ...result });
  });
}
