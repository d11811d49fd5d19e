import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { Readable, Transform } from 'node:stream';
import SftpClient from 'ssh2-sftp-client';
import type { Logger } from 'pino';
import type { SftpTarget } from './targets';
import { DeliveryError, PermanentDeliveryError, type Sink } from './sink';

/** OpenSSH's fingerprint of a host key blob, as `ssh-keygen -lf` prints it. */
export const sshFingerprint = (key: Buffer): string => `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;

/**
 * An SFTP drop: the body goes to `<name>.<token>.part` (a name of this
 * attempt alone, so two writers never share one), its size is checked,
 * and only then is it renamed to the final name with SFTP's no-clobber
 * rename, so a file already there is never replaced. The host key is
 * always checked against the configured fingerprint.
 */
export class SftpSink implements Sink {
  private client: SftpClient | undefined;
  /** Folders known to exist on this connection (the sidecar goes where its file went). */
  private readonly dirs = new Set<string>();

  constructor(
    private readonly t: SftpTarget,
    private readonly logger: Logger,
    private readonly connectTimeoutMs = 10_000,
  ) {}

  private async connect(signal: AbortSignal): Promise<SftpClient> {
    if (this.client) return this.client;
    // The library's default listeners console.log every end and close; ours log only what matters.
    const client = new SftpClient(`delivery-${this.t.name}`, {
      error: (err: unknown) => this.logger.debug({ target: this.t.name, err: (err as Error).message }, 'SFTP connection error'),
      end: () => undefined,
      close: () => undefined,
    });
    let shown: string | undefined;
    const onAbort = () => void client.end().catch(() => undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await client.connect({
        host: this.t.host,
        port: this.t.port,
        username: this.t.user,
        privateKey: readFileSync(this.t.privateKeyFile),
        readyTimeout: this.connectTimeoutMs,
        retries: 0,
        hostVerifier: (key: Buffer) => {
          shown = sshFingerprint(key);
          if (this.t.trustOnFirstUse && !this.t.hostKeyFingerprint) {
            this.logger.warn({ target: this.t.name, fingerprint: shown }, 'SFTP host key accepted unverified (trustOnFirstUse)');
            return true;
          }
          return shown === this.t.hostKeyFingerprint;
        },
      });
    } catch (err) {
      if (shown && this.t.hostKeyFingerprint && shown !== this.t.hostKeyFingerprint) {
        // Not retried: another key is a changed server or someone in between, and either needs a person.
        // The delivery fails at once (error log, deliveries_failed, delivery.failed) and is redelivered once checked.
        throw new PermanentDeliveryError(
          'host_key_mismatch',
          `SFTP host ${this.t.host}:${this.t.port} showed host key ${shown}, not the configured ${this.t.hostKeyFingerprint}; refused`,
        );
      }
      throw new DeliveryError('sftp_connect', `SFTP ${this.t.host}:${this.t.port}: ${(err as Error).message}`, { cause: err });
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    this.client = client;
    return client;
  }

  async put(
    path: string,
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    beforeCommit: () => Promise<void>,
    signal: AbortSignal,
  ): Promise<'created' | 'exists'> {
    const c = await this.connect(signal);
    const onAbort = () => void this.close();
    signal.addEventListener('abort', onAbort, { once: true });
    const part = `${path}.${randomBytes(6).toString('hex')}.part`;
    let renamed = false;
    try {
      const dir = posix.dirname(path);
      if (!this.dirs.has(dir) && dir !== '.' && dir !== '/' && !(await c.exists(dir))) await c.mkdir(dir, true);
      this.dirs.add(dir);
      if (await c.exists(path)) return 'exists';
      // An attempt that died (we, or the connection) may have left its .part: only this name's, by their form.
      const base = posix.basename(path);
      const stale = (await c.list(dir)).filter(
        (f) => f.name.startsWith(`${base}.`) && /^\.[0-9a-f]{12}\.part$/.test(f.name.slice(base.length)),
      );
      for (const f of stale) await c.delete(posix.join(dir, f.name), true);
      let bytes = 0;
      const counted = Readable.from(body).pipe(
        new Transform({
          transform(chunk: Buffer, _e, done) {
            bytes += chunk.length;
            done(null, chunk);
          },
        }),
      );
      await c.put(counted, part, { writeStreamOptions: { flags: 'w', mode: 0o644 } });
      const stored = (await c.stat(part)).size;
      if (stored !== bytes) throw new DeliveryError('size_mismatch', `${part} holds ${stored} bytes, ${bytes} were sent`);
      await beforeCommit();
      // The protocol's own rename, not posix-rename@openssh.com: SFTP v3 says it fails when the new name
      // exists, and OpenSSH does it as link(2) + unlink(2), so it is atomic AND never replaces a file.
      // posix-rename would replace one: a writer that lost its lease after the check above could
      // swap the final file under a reader. Whoever renames first wins; the other finds it there.
      try {
        await c.rename(part, path);
      } catch (err) {
        if (await c.exists(path).catch(() => false)) return 'exists';
        throw err;
      }
      renamed = true;
      return 'created';
    } catch (err) {
      throw err instanceof DeliveryError
        ? err
        : new DeliveryError(sftpCode(err), `SFTP ${path}: ${(err as Error).message}`, { cause: err });
    } finally {
      signal.removeEventListener('abort', onAbort);
      // Whatever happened, no .part of ours stays behind if the server still answers.
      if (!renamed && this.client) await this.client.delete(part, true).catch(() => undefined);
    }
  }

  async sha256Of(path: string, signal: AbortSignal): Promise<string> {
    const c = await this.connect(signal);
    const hash = createHash('sha256');
    for await (const chunk of c.createReadStream(path)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.dirs.clear();
    await c?.end().catch(() => undefined);
  }
}

/** A stable code for the ledger: what the server said, by SFTP status (ssh2's `code`) or the socket's errno. */
function sftpCode(err: unknown): string {
  const e = err as { code?: number | string; message?: string };
  if (e.code === 3 || /permission denied/i.test(e.message ?? '')) return 'permission_denied';
  if (/no space|quota|disk full|failure/i.test(e.message ?? '') && e.code === 4) return 'sftp_failure';
  if (typeof e.code === 'string') return `sftp_${e.code.toLowerCase()}`;
  return 'sftp_error';
}
