import { config, die } from './common';

export async function serveCommand(opts: { demo: boolean }): Promise<void> {
  const cfg = config();
  const { startServer } = await import('../server');
  const running = await startServer(cfg, { demoData: opts.demo && cfg.DEMO_DATA });
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
