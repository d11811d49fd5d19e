import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { Agent, request } from 'node:http';

export interface ServerProcess {
  url: string;
  pid: number;
  /** Resident set size of the server process, in MB. */
  rssMb(): number;
  stop(): Promise<void>;
}

const DIST = join(__dirname, '..');

// Servers still running if the bench exits early (an error, Ctrl-C): never leave them behind.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** `expense-export serve` as operators run it, in its own process, so its memory and CPU are its own. */
export function spawnService(env: Record<string, string>): Promise<ServerProcess> {
  return spawnAndWait(join(DIST, 'src', 'cli.js'), ['serve'], env, /listening on (http:\/\/[\d.]+:\d+)/);
}

/** The baseline: a bare Express hello-world, also in its own process. */
export function spawnHelloServer(): Promise<ServerProcess> {
  return spawnAndWait(join(__dirname, 'hello-server.js'), [], {}, /hello listening on (http:\/\/[\d.]+:\d+)/);
}

async function spawnAndWait(script: string, args: string[], env: Record<string, string>, ready: RegExp): Promise<ServerProcess> {
  // BENCH_CPU_PROF_DIR=dir: each server writes a V8 CPU profile there on exit (open in Chrome DevTools).
  const profile = process.env.BENCH_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`] : [];
  const child = spawn(process.execPath, [...profile, script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${script} did not start within 30 s: ${err || out.slice(-2000)}`)), 30_000);
    const onData = (c: Buffer) => {
      out += c.toString();
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.off('exit', onExit);
        resolve(m[1]);
      }
    };
    const onExit = (code: number | null) => fail(new Error(`${script} exited (${code}) before listening: ${err || out.slice(-2000)}`));
    const fail = (e: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(e);
    };
    child.stdout.on('data', onData);
    child.on('exit', onExit);
  });
  // Keep draining its (per-request) logs so a full pipe never blocks the server we measure.
  child.stdout.resume();
  return { url, pid: child.pid!, rssMb: () => rssMb(child.pid!), stop: () => stop(child) };
}

/** CPU time (user + system) a process has used so far, in ms; NaN where /proc is missing. */
export function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // clock ticks, 100 per second on Linux
  } catch {
    return NaN;
  }
}

/** The first child of a process (Azurite under its watchdog), or the process itself. */
export function firstChildPid(pid: number): number {
  try {
    const child = Number(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0]);
    return child > 0 ? child : pid;
  } catch {
    return pid;
  }
}

export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux: fall back to ps below
  }
  return (
    Number(
      execFileSync('ps', ['-o', 'rss=', '-p', String(pid)])
        .toString()
        .trim(),
    ) / 1024
  );
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Reads one counter from the server's /metrics (needs the admin role). */
export async function scrapeCounter(url: string, authorization: string, name: string): Promise<number> {
  const body = await getText(`${url}/metrics`, authorization);
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(body);
  if (!m) throw new Error(`metric ${name} not found`);
  return Number(m[1]);
}

export const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 });

function getText(url: string, authorization: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request(url, { headers: { authorization }, agent: keepAlive }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${url}: ${res.statusCode} ${body.slice(0, 300)}`)),
      );
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}
