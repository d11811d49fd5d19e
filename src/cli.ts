#!/usr/bin/env node
import { Command, Option } from 'commander';
import { loadConfig, ConfigError, type Config } from './config';
import { hashPassword } from './auth/password';

/** One line, no stack: what an operator needs to fix the input. */
function die(message: string, code = 1): never {
  process.stderr.write(`expense-export: ${message}\n`);
  process.exit(code);
}

function config(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) die(err.problems.join('\n  '), 2);
    throw err;
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const program = new Command('expense-export').description('Exports approved expenses to on-premises payroll as CSV').showHelpAfterError();

program
  .command('serve', { isDefault: true })
  .description('run the HTTP API and the queue consumer (starts an embedded Azurite when no storage is configured)')
  .option('--no-demo', 'do not seed demo data into empty embedded storage')
  .action(async (opts: { demo: boolean }) => {
    const cfg = config();
    const { startServer } = await import('./server');
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
  });

program
  .command('hash-password')
  .description('read a password from stdin and print its scrypt hash for AUTH_USERS')
  .action(async () => {
    const password = (await readStdin()).replace(/\r?\n$/, '');
    if (password.length < 8) die('password must be at least 8 characters');
    process.stdout.write(`${await hashPassword(password)}\n`);
  });

program.addOption(new Option('--log-level <level>').hideHelp());

program.parseAsync().catch((err: Error) => die(err.message));
