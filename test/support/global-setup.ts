import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite, type EmbeddedAzurite } from '../../src/storage/embedded-azurite';
import { CHILD_REGISTRY_ENV } from '../../harness/child-registry';

declare global {
  var __AZURITE__: EmbeddedAzurite | undefined;
}

/**
 * One real, in-memory Azurite for the whole run, on free ports. Test files
 * isolate themselves by table/queue names. Also the registry of child
 * processes that globalTeardown ends, however the tests ended.
 */
export default async function globalSetup(): Promise<void> {
  process.env[CHILD_REGISTRY_ENV] = mkdtempSync(join(tmpdir(), 'expense-export-children-'));
  const azurite = await startAzurite({ inMemory: true, watchdog: false });
  globalThis.__AZURITE__ = azurite;
  process.env.TEST_AZURITE_CONNECTION_STRING = azurite.connectionString;
}
