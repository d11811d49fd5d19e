import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A PGP recipient made by Debian's GnuPG in a home of its own: its public key file for a target, and gpg --decrypt. */
export interface GpgRecipient {
  home: string;
  publicKeyFile: string;
  decrypt(encrypted: Buffer): Buffer;
  /** Ends the gpg-agent started for this home and removes the home. */
  remove(): void;
}

export function makeGpgRecipient(uid = 'Payroll Recipient <payroll@example.test>'): GpgRecipient {
  const home = mkdtempSync(join(tmpdir(), 'ee-gpg-'));
  const gpg = (args: string[], input?: Buffer) =>
    execFileSync('gpg', ['--batch', '--homedir', home, ...args], { input, stdio: ['pipe', 'pipe', 'pipe'] });
  gpg(['--passphrase', '', '--quick-gen-key', uid, 'default', 'default', 'never']);
  const publicKeyFile = join(home, 'recipient.asc');
  writeFileSync(publicKeyFile, gpg(['--armor', '--export', uid]));
  return {
    home,
    publicKeyFile,
    decrypt: (encrypted) => gpg(['--decrypt'], encrypted),
    remove() {
      try {
        execFileSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
      } catch {
        // no agent ran
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}
