import { spawn, type ChildProcess } from 'node:child_process';
import { projectFile } from '../src/project-root';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One `expense-export serve` as a real child process, so a fault is a real SIGKILL, not a thrown error. */
export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  /** Set once the banner was printed (absent if the process died first). */
  url?: string;
  exited: Promise<Exit>;
  /** Everything written to stdout and stderr so far (pino JSON lines and the banner). */
  output(): string;
  /** JSON log lines so far. */
  logs(): Array<Record<string, unknown>>;
  /** SIGTERM (SIGKILL after `graceMs`), then resolves with the exit and how long it took. */
  terminate(signal?: NodeJS.Signals, graceMs?: number): Promise<Exit & { ms: number }>;
}

export interface SpawnOptions {
  /** Added to a minimal environment: nothing of ours (or of jest's) leaks in unless given here. */
  env: Record<string, string | undefined>;
  /** Reject if neither the banner nor an exit is seen in this time. */
  startTimeoutMs?: number;
}

const BANNER = /expense-export listening on (https?:\/\/[^\s]+)/;

/**
 * Spawns `node dist/src/cli.js serve` (build first) and resolves once it is
 * listening, or once it exited: a process with a crash fault may die before
 * its banner, and the caller wants to know that rather than hang.
 */
export function spawnServer(opts: SpawnOptions): Promise<ServerProcess> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
  };
  for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env[k] = v;
  const child = spawn(process.execPath, [projectFile('dist/src/cli.js'), 'serve', '--no-demo'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const proc: ServerProcess = {
    child,
    pid: child.pid!,
    exited,
    output: () => out,
    logs: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
    async terminate(signal = 'SIGTERM', graceMs = 30_000) {
      const t0 = Date.now();
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      // A server that ignores the signal must not hang the run that stops it: the exit then reports SIGKILL.
      const hard = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const exit = await exited;
      clearTimeout(hard);
      return { ...exit, ms: Date.now() - t0 };
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start within ${opts.startTimeoutMs ?? 30000} ms:\n${out.slice(-2000)}`));
    }, opts.startTimeoutMs ?? 30000);
    const onData = () => {
      const m = BANNER.exec(out);
      if (!m) return;
      proc.url = m[1];
      done();
    };
    const done = () => {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      resolve(proc);
    };
    child.stdout.on('data', onData);
    void exited.then(done);
  });
}

export interface StorageNames {
  EXPENSES_TABLE: string;
  EXPENSE_ITEMS_TABLE: string;
  EXPORT_TABLE: string;
  OUTBOX_TABLE: string;
  APPROVALS_QUEUE: string;
}

/** The environment of a server on a shared Azurite, with short timings so that faults heal within a test. */
export function serverEnv(
  connectionString: string,
  names: StorageNames,
  users: readonly object[],
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    AZURE_STORAGE_CONNECTION_STRING: connectionString,
    EXPENSES_TABLE: names.EXPENSES_TABLE,
    EXPENSE_ITEMS_TABLE: names.EXPENSE_ITEMS_TABLE,
    EXPORT_TABLE: names.EXPORT_TABLE,
    OUTBOX_TABLE: names.OUTBOX_TABLE,
    APPROVALS_QUEUE: names.APPROVALS_QUEUE,
    AUTH_USERS: JSON.stringify(users),
    QUEUE_VISIBILITY_TIMEOUT_S: '2',
    CONSUMER_MAX_IDLE_MS: '200',
    CONSUMER_MAX_OUTAGE_BACKOFF_MS: '2000',
    APPROVAL_SWEEP_GRACE_MS: '0',
    APPROVAL_SWEEP_INTERVAL_MS: '1000',
    ...extra,
  };
}
