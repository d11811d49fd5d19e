/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument --
   openpgp's declarations type its streams through @openpgp/web-stream-tools, which the linter's program does not resolve (tsc does). */
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import * as openpgp from 'openpgp';

/**
 * OpenPGP encryption to a recipient's public key (armored or binary file),
 * streamed: openpgp.js defaults (SEIPD v1, no AEAD), so GnuPG's
 * `gpg --decrypt` reads it. openpgp v6 takes and gives web streams.
 */
export async function readRecipientKey(file: string): Promise<openpgp.PublicKey> {
  const bytes = await readFile(file);
  const text = bytes.toString('utf8');
  const key = text.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')
    ? await openpgp.readKey({ armoredKey: text })
    : await openpgp.readKey({ binaryKey: bytes });
  if (key.isPrivate()) throw new Error(`${file} holds a private key; give the recipient's public key`);
  return key;
}

export async function encryptStream(plain: AsyncIterable<Uint8Array>, key: openpgp.PublicKey): Promise<AsyncIterable<Uint8Array>> {
  // openpgp's types name the DOM's web streams; Node's are the same objects at run time.
  const input = Readable.toWeb(Readable.from(plain)) as unknown as openpgp.WebStream<Uint8Array>;
  const message: openpgp.Message<openpgp.WebStream<Uint8Array>> = await openpgp.createMessage({ binary: input });
  const encrypted = await openpgp.encrypt({
    message,
    encryptionKeys: key,
    format: 'binary',
    config: { aeadProtect: false },
  });
  return Readable.fromWeb(encrypted);
}
