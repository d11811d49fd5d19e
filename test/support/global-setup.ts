import { startAzurite, type EmbeddedAzurite } from '../../src/storage/embedded-azurite';

declare global {
  var __AZURITE__: EmbeddedAzurite | undefined;
}

/** One real, in-memory Azurite for the whole run, on free ports. Test files isolate themselves by table/queue names. */
export default async function globalSetup(): Promise<void> {
  const azurite = await startAzurite({ inMemory: true, watchdog: false });
  globalThis.__AZURITE__ = azurite;
  process.env.TEST_AZURITE_CONNECTION_STRING = azurite.connectionString;
}
