import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { listening, spawnServer } from '../harness/child-server';
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

// Servers still running if the bench exits early (an error, Ctrl-C): never leave them behind.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** BENCH_CPU_PROF_DIR=dir: each server writes a V8 CPU profile there on exit (open in Chrome DevTools). */
// BENCH_NODE_ARGS (space-separated V8/node flags for the servers) is for finding where memory goes, never for BENCHMARKS.md.
const profileArgs = (): string[] => [
  ...(process.env.BENCH_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`] : []),
  ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
];

/**
 * `expense-export serve` as operators run it, in its own process, so its
 * memory and CPU are its own. Started like every other test server; it keeps
 * only the tail of its output, so that our memory does not grow with its logs.
 */
export async function spawnService(env: Record<string, string>): Promise<ServerProcess> {
  const p = await listening(spawnServer({ env, args: [], nodeArgs: profileArgs(), output: 'tail' }));
  return tracked(p.child, p.url, () => p.terminate('SIGTERM', 10_000).then(() => undefined));
}

/** The baseline: a bare Express hello-world, also in its own process. */
export async function spawnHelloServer(): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...profileArgs(), join(__dirname, 'hello-server.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('hello-server did not start within 30 s')), 30_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /hello listening on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout.resume();
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`hello-server exited (${code}) before listening`)));
  });
  return tracked(child, url, () => stop(child));
}

function tracked(child: ChildProcess, url: string, stopIt: () => Promise<void>): ServerProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return { url, pid: child.pid!, rssMb: () => rssMb(child.pid!), stop: stopIt };
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
