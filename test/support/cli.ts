import { execFile, type ChildProcess } from 'node:child_process';
import { listening, spawnServer } from '../../harness/child-server';
import { existsSync } from 'node:fs';
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

/** Starts `serve` (the same way chaos and the bench do) and resolves once its banner names the URL. */
export async function serve(env: Env, opts: { cwd?: string; args?: string[]; timeoutMs?: number } = {}): Promise<Served> {
  const p = await listening(spawnServer({ env, args: opts.args ?? [], cwd: opts.cwd, startTimeoutMs: opts.timeoutMs }));
  return { url: p.url, child: p.child, output: () => p.output(), stop: async () => (await p.terminate()).code };
}
