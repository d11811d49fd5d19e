import { config, die } from './common';

export async function serveCommand(opts: { demo: boolean }): Promise<void> {
  const cfg = config();
  // The embedded Azurite takes a second or more to come up: start it while the server's modules load.
  const { storage } = cfg;
  const azurite =
    storage.kind === 'embedded'
      ? (await import('../storage/azurite-lock')).startExclusiveAzurite({
          location: storage.location,
          inMemory: storage.inMemory,
          command: 'serve',
        })
      : undefined;
  azurite?.catch(() => undefined); // awaited, and reported, by startServer
  const { startServer } = await import('../server');
  const running = await startServer(cfg, { demoData: opts.demo && cfg.DEMO_DATA, azurite });
  const stop = (signal: string) => {
    const hard = setTimeout(() => die(`shutdown exceeded ${cfg.SHUTDOWN_TIMEOUT_MS + 2000} ms; exiting`), cfg.SHUTDOWN_TIMEOUT_MS + 2000);
    hard.unref();
    running.shutdown(signal).then(
      () => process.exit(0),
      (err: Error) => die(`shutdown failed: ${err.message}`),
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
