import { CHILD_REGISTRY_ENV, killRegistered } from '../../harness/child-registry';

export default async function globalTeardown(): Promise<void> {
  await globalThis.__AZURITE__?.stop();
  const dir = process.env[CHILD_REGISTRY_ENV];
  const leftovers = dir ? killRegistered(dir) : [];
  // A passing run leaves nothing behind; say so when a failed one did, so it is not a mystery later.
  if (leftovers.length > 0)
    process.stderr.write(`globalTeardown: killed ${leftovers.length} leftover child process(es): ${leftovers.join(', ')}\n`);
}
