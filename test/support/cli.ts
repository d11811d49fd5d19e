import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';

/** The built bin, exactly as operators run it (`npm test` builds first). */
export const CLI = join(__dirname, '..', '..', 'dist', 'src', 'cli.js');

export function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it in pretest)`);
}

export type Env = Record<string, string | undefined>;

/** Only what we pass: the developer's own AZURE_* or LOG_LEVEL must not leak into a test. */
export const cleanEnv = (env: Env): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: process.env.HOME, ...env });

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], env: Env = {}, opts: { cwd?: string; input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      { env: cleanEnv(env), cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: unknown }).code as number | null) : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

export interface Served {
  url: string;
  child: ChildProcess;
  output: () => string;
  stop(): Promise<number | null>;
}

/** Starts `serve` and resolves once its banner names the URL. */
export async function serve(env: Env, opts: { cwd?: string; args?: string[]; timeoutMs?: number } = {}): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', ...(opts.args ?? [])], {
    env: cleanEnv({ PORT: '0', ...env }),
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out.slice(-2000)}`)), opts.timeoutMs ?? 30_000);
    const check = () => {
      const m = /listening on (https?:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout.off('data', check);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}) before listening: ${out.slice(-2000)}`));
    });
  });
  return {
    url,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}

/** Table and queue names as the CLI reads them (the *_TABLE / APPROVALS_QUEUE variables). */
export function namesEnv(n: {
  EXPENSES_TABLE: string;
  EXPENSE_ITEMS_TABLE: string;
  EXPORT_TABLE: string;
  OUTBOX_TABLE: string;
  APPROVALS_QUEUE: string;
}): Env {
  return {
    EXPENSES_TABLE: n.EXPENSES_TABLE,
    EXPENSE_ITEMS_TABLE: n.EXPENSE_ITEMS_TABLE,
    EXPORT_TABLE: n.EXPORT_TABLE,
    OUTBOX_TABLE: n.OUTBOX_TABLE,
    APPROVALS_QUEUE: n.APPROVALS_QUEUE,
  };
}
