import { randomBytes, scryptSync } from 'node:crypto';

/**
 * A valid password hash at the lowest cost the service accepts (N = 1024,
 * 16 times cheaper than hashPassword's default): for unit tests of what
 * the authenticator does with a verification, not of scrypt's cost.
 */
export function cheapHash(password: string): string {
  const [N, r, p] = [1024, 8, 1];
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, 32, { N, r, p });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}
