import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { registerChild } from './child-registry';
import type { DeliveryTarget } from '../src/delivery/targets';
import { portAnswers } from '../src/storage/azurite-lock';

/** The account the SFTP tests log in as: not root, so that a read-only directory refuses it. */
export const SFTP_USER = 'ee-sftp-test';

export interface Sshd {
  port: number;
  dir: string;
  /** Where files may land: owned by SFTP_USER. */
  drop: string;
  userKeyFile: string;
  /** `SHA256:…` of the host key, as ssh-keygen -l prints it. */
  fingerprint: string;
  uid: number;
  gid: number;
  stop(): Promise<void>;
  /** Starts it again on the same port, with the same keys (after stop() or a kill). */
  restart(): Promise<void>;
  /** SIGKILL to sshd and every session process it forked: the server is gone mid-whatever. */
  kill(): void;
}

/** An SFTP delivery target on this sshd, as every test, chaos and the bench configure it (host key pinned, no TOFU). */
export function sftpTargetOn(
  sshd: Sshd,
  name: string,
  path: string,
  over: Partial<Extract<DeliveryTarget, { kind: 'sftp' }>> = {},
): Extract<DeliveryTarget, { kind: 'sftp' }> {
  return {
    name,
    kind: 'sftp',
    layout: 'v1',
    path: `${sshd.drop}/${path}`,
    encryption: { kind: 'none' },
    host: '127.0.0.1',
    port: sshd.port,
    user: SFTP_USER,
    privateKeyFile: sshd.userKeyFile,
    hostKeyFingerprint: sshd.fingerprint,
    trustOnFirstUse: false,
    ...over,
  };
}

export async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

function ensureUser(): { uid: number; gid: number } {
  try {
    execFileSync('id', ['-u', SFTP_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', SFTP_USER]);
  }
  // useradd locks the account ('!'), and sshd (without PAM) refuses locked accounts even with a key; '*' is "no password", not locked.
  execFileSync('usermod', ['-p', '*', SFTP_USER]);
  const uid = Number(execFileSync('id', ['-u', SFTP_USER]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', SFTP_USER]).toString().trim());
  return { uid, gid };
}

/**
 * A real OpenSSH sshd (Debian's openssh-server) on a loopback port, as root
 * with a config of its own: a host key and a user key made here, the user's
 * key authorized, internal-sftp. Registered with the child registry, so a
 * failed run does not leave it behind. Tests, the bench and chaos use it.
 */
export async function startSshd(): Promise<Sshd> {
  const { uid, gid } = ensureUser();
  const dir = mkdtempSync(join(tmpdir(), 'ee-sshd-'));
  chmodSync(dir, 0o755);
  const drop = join(dir, 'drop');
  mkdirSync(drop);
  chownSync(drop, uid, gid);
  mkdirSync('/run/sshd', { recursive: true });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'user_key')]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'user_key.pub')));
  chmodSync(join(dir, 'authorized_keys'), 0o644);
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-f', join(dir, 'host_key.pub')])
    .toString()
    .split(' ')[1];
  const port = await freePort();
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'Subsystem sftp internal-sftp',
      'PidFile none',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      `AllowUsers ${SFTP_USER}`,
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  const start = async () => {
    const c = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    registerChild(c);
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    child = c;
    for (let i = 0; i < 100; i++) {
      if (c.exitCode !== null) throw new Error(`sshd exited (${c.exitCode}): ${err}`);
      if (await portAnswers(port, 200)) return;
      await sleep(50);
    }
    throw new Error(`sshd did not listen on ${port}: ${err}`);
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    c.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    port,
    dir,
    drop,
    userKeyFile: join(dir, 'user_key'),
    fingerprint,
    uid,
    gid,
    restart: start,
    kill: () => {
      if (!child?.pid) return;
      for (const pid of [...descendants(child.pid), child.pid]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    },
    async stop() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The processes below `pid` (sshd forks one per connection), from /proc. */
function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of parentOf) {
      if (parent !== p) continue;
      out.push(child);
      walk(child);
    }
  };
  walk(pid);
  return out;
}
