import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { once } from 'node:events';

export interface EmbeddedAzurite {
  connectionString: string;
  tablePort: number;
  queuePort: number;
  /** Delivery targets of kind blob default to a container here (see EMBEDDED_BLOB_TARGET). */
  blobPort: number;
  pid: number;
  stop(): Promise<void>;
}

export interface AzuriteOptions {
  location?: string;
  inMemory: boolean;
  /** Fixed ports, e.g. to restart on the same ones; 0 picks free ports. */
  tablePort?: number;
  queuePort?: number;
  blobPort?: number;
  /** Wrap in the watchdog so the child dies with us. Tests that SIGKILL/SIGSTOP storage turn it off to reach Azurite's own pid. */
  watchdog?: boolean;
  startTimeoutMs?: number;
}

const ACCOUNT = 'devstoreaccount1';
// Azurite's well-known development key, public by design (it is in Microsoft's docs).
const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export function azuriteConnectionString(tablePort: number, queuePort: number, blobPort?: number): string {
  return (
    `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${KEY};` +
    `TableEndpoint=http://127.0.0.1:${tablePort}/${ACCOUNT};QueueEndpoint=http://127.0.0.1:${queuePort}/${ACCOUNT};` +
    (blobPort ? `BlobEndpoint=http://127.0.0.1:${blobPort}/${ACCOUNT};` : '')
  );
}

/**
 * Starts the combined `azurite` binary on loopback. We use the combined binary
 * because it prints the real ports when given port 0 (the standalone
 * azurite-table prints 0). Its blob service takes the files of the default
 * delivery target (`npm start` delivers with no other setup).
 */
export async function startAzurite(opts: AzuriteOptions): Promise<EmbeddedAzurite> {
  const bin = require.resolve('azurite/dist/src/azurite.js');
  const args = [
    '--disableTelemetry',
    '--skipApiVersionCheck',
    '--silent',
    '--blobHost',
    '127.0.0.1',
    '--blobPort',
    String(opts.blobPort ?? 0),
    '--queueHost',
    '127.0.0.1',
    '--queuePort',
    String(opts.queuePort ?? 0),
    '--tableHost',
    '127.0.0.1',
    '--tablePort',
    String(opts.tablePort ?? 0),
  ];
  if (opts.inMemory) args.push('--inMemoryPersistence');
  else {
    const location = resolve(opts.location ?? '.azurite');
    mkdirSync(location, { recursive: true });
    args.push('--location', location);
  }
  const watchdog = opts.watchdog ?? true;
  const argv = watchdog ? [join(__dirname, 'azurite-watchdog.js'), bin, ...args] : [bin, ...args];
  const child = spawn(process.execPath, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  // Never let these pipes keep our event loop alive or block on a full buffer.
  child.stdin.on('error', () => undefined);
  const ports = await readPorts(child, opts.startTimeoutMs ?? 30000);
  child.stdout.resume();
  child.stderr.resume();
  return {
    ...ports,
    connectionString: azuriteConnectionString(ports.tablePort, ports.queuePort, ports.blobPort),
    pid: child.pid!,
    stop: () => stopChild(child),
  };
}

function readPorts(child: ChildProcess, timeoutMs: number): Promise<{ tablePort: number; queuePort: number; blobPort: number }> {
  return new Promise((resolvePorts, reject) => {
    let out = '';
    const found: { table?: number; queue?: number; blob?: number } = {};
    const timer = setTimeout(() => fail(new Error(`Azurite did not start within ${timeoutMs} ms: ${out.slice(-500)}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      for (const m of out.matchAll(/Azurite (Table|Queue|Blob) service is successfully listening at http:\/\/[^:]+:(\d+)/g)) {
        found[m[1].toLowerCase() as 'table' | 'queue' | 'blob'] = Number(m[2]);
      }
      if (found.table && found.queue && found.blob) {
        cleanup();
        resolvePorts({ tablePort: found.table, queuePort: found.queue, blobPort: found.blob });
      }
    };
    const onExit = (code: number | null) => fail(new Error(`Azurite exited (${code}) before listening: ${out.slice(-500)}`));
    const fail = (err: Error) => {
      cleanup();
      child.kill('SIGKILL');
      reject(err);
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.stderr!.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', onExit);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 6000);
  await exited;
  clearTimeout(timer);
}
