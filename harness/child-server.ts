import { spawn, type ChildProcess } from 'node:child_process';
import { projectFile } from '../src/project-root';
import type { StorageNames } from '../src/storage/clients';
import { randomBytes } from 'node:crypto';
import { registerChild, registryActive } from './child-registry';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * One `expense-export serve` as a real child process, so a fault is a real
 * SIGKILL, not a thrown error. The one way tests, chaos and the bench start
 * a server.
 */
export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  /** Set once the banner was printed (absent if the process died first). */
  url?: string;
  exited: Promise<Exit>;
  /** What it wrote to stdout and stderr (everything, or the last 64 KB with `output: 'tail'`). */
  output(): string;
  /** JSON log lines in output(). */
  logs(): Array<Record<string, unknown>>;
  /** SIGTERM (SIGKILL after `graceMs`), then resolves with the exit and how long it took. */
  terminate(signal?: NodeJS.Signals, graceMs?: number): Promise<Exit & { ms: number }>;
}

export interface SpawnOptions {
  /** Added to a minimal environment (PATH, HOME, PORT=0, HOST=127.0.0.1): nothing of ours (or of jest's) leaks in unless given here. */
  env: Record<string, string | undefined>;
  /** After `serve`; default `--no-demo`. */
  args?: string[];
  /** Node flags before the script, e.g. --cpu-prof. */
  nodeArgs?: string[];
  cwd?: string;
  /** Reject if neither the banner nor an exit is seen in this time. */
  startTimeoutMs?: number;
  /**
   * 'all' keeps every line (tests and chaos read the logs); 'tail' only the
   * last 64 KB, so a server measured for memory is not shadowed by the
   * parent holding all its log lines.
   */
  output?: 'all' | 'tail';
}

const BANNER = /expense-export listening on (https?:\/\/[^\s]+)/;
const TAIL = 64 * 1024;

/**
 * Spawns `node dist/src/cli.js serve` (build first) and resolves once it is
 * listening, or once it exited: a process with a crash fault may die before
 * its banner, and the caller wants to know that rather than hang. Use
 * `listening()` where a server that died is an error.
 */
export function spawnServer(opts: SpawnOptions): Promise<ServerProcess> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0' };
  if (process.env.HOME) env.HOME = process.env.HOME;
  for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env[k] = v;
  const args = [...(opts.nodeArgs ?? []), projectFile('dist/src/cli.js'), 'serve', ...(opts.args ?? ['--no-demo'])];
  // In a test run, its own process group, so that a leftover can be killed with everything it started (its
  // embedded Azurite). Elsewhere it stays in ours, so that Ctrl-C of a chaos run reaches it too.
  const child = spawn(process.execPath, args, { env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: registryActive() });
  registerChild(child);
  let out = '';
  const keep = opts.output === 'tail' ? (s: string) => s.slice(-TAIL) : (s: string) => s;
  child.stdout.on('data', (c: Buffer) => (out = keep(out + c.toString())));
  child.stderr.on('data', (c: Buffer) => (out = keep(out + c.toString())));
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
    const timeoutMs = opts.startTimeoutMs ?? 30_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start within ${timeoutMs} ms:\n${out.slice(-2000)}`));
    }, timeoutMs);
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

/** A server that must be up: one that exited before its banner is an error naming its output. */
export async function listening(p: Promise<ServerProcess>): Promise<ServerProcess & { url: string }> {
  const proc = await p;
  if (!proc.url) throw new Error(`serve exited (${(await proc.exited).code}) before listening: ${proc.output().slice(-2000)}`);
  return proc as ServerProcess & { url: string };
}

/** Table and queue names of their own (`tag` says whose), so that runs on one Azurite never see each other's data. */
export function uniqueStorageNames(tag = ''): StorageNames {
  const id = `${tag}${randomBytes(4).toString('hex')}`;
  const queue = `${tag ? `${tag.toLowerCase()}-` : ''}approvals-${id.toLowerCase()}`;
  return {
    EXPENSES_TABLE: `Exp${id}`,
    EXPENSE_ITEMS_TABLE: `Items${id}`,
    EXPORT_TABLE: `Export${id}`,
    OUTBOX_TABLE: `Outbox${id}`,
    RESULT_IMPORTS_TABLE: `Imports${id}`,
    DELIVERIES_TABLE: `Deliveries${id}`,
    WEBHOOK_OUTBOX_TABLE: `Hooks${id}`,
    APPROVALS_QUEUE: queue,
    poisonQueue: `${queue}-poison`,
  };
}

/** The storage settings of a server on a shared account: the connection string and the names of its tables and queue. */
export function storageEnv(connectionString: string, names: Omit<StorageNames, 'poisonQueue'>): Record<string, string> {
  return {
    AZURE_STORAGE_CONNECTION_STRING: connectionString,
    EXPENSES_TABLE: names.EXPENSES_TABLE,
    EXPENSE_ITEMS_TABLE: names.EXPENSE_ITEMS_TABLE,
    EXPORT_TABLE: names.EXPORT_TABLE,
    OUTBOX_TABLE: names.OUTBOX_TABLE,
    RESULT_IMPORTS_TABLE: names.RESULT_IMPORTS_TABLE,
    ...(names.DELIVERIES_TABLE ? { DELIVERIES_TABLE: names.DELIVERIES_TABLE } : {}),
    ...(names.WEBHOOK_OUTBOX_TABLE ? { WEBHOOK_OUTBOX_TABLE: names.WEBHOOK_OUTBOX_TABLE } : {}),
    APPROVALS_QUEUE: names.APPROVALS_QUEUE,
  };
}

/** The environment of a server on a shared Azurite, with short timings so that faults heal within a test. */
export function serverEnv(
  connectionString: string,
  names: Omit<StorageNames, 'poisonQueue'>,
  users: readonly object[],
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    ...storageEnv(connectionString, names),
    AUTH_USERS: JSON.stringify(users),
    QUEUE_VISIBILITY_TIMEOUT_S: '2',
    CONSUMER_MAX_IDLE_MS: '200',
    CONSUMER_MAX_OUTAGE_BACKOFF_MS: '2000',
    APPROVAL_SWEEP_GRACE_MS: '0',
    APPROVAL_SWEEP_INTERVAL_MS: '1000',
    ...extra,
  };
}
