import { hashPassword } from '../../src/auth/password';
import { ROLES, type Role, type User } from '../../src/auth/users';

export const PASSWORD = 'correct horse battery staple';

/** One user per role, plus admin; hashes computed once per file (scrypt is slow by design). */
export async function testUsers(): Promise<User[]> {
  const hash = await hashPassword(PASSWORD);
  const roles: Role[] = [...ROLES];
  return roles.map((r) => ({ name: r, roles: [r], passwordHash: hash }));
}

export const basic = (name: string, password = PASSWORD) => `Basic ${Buffer.from(`${name}:${password}`).toString('base64')}`;
