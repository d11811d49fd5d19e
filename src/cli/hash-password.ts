import { hashPassword } from '../auth/password';
import { CliError, readStdin } from './common';

export async function hashPasswordCommand(): Promise<void> {
  const password = (await readStdin()).replace(/\r?\n$/, '');
  if (password.length < 8) throw new CliError('password must be at least 8 characters');
  process.stdout.write(`${await hashPassword(password)}\n`);
}
