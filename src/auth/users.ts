import { z } from 'zod';
import { parsePasswordHash } from './password';

export const ROLES = ['exporter', 'approver', 'importer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface User {
  name: string;
  roles: Role[];
  passwordHash: string;
  /** The export layout this user gets when a pull names none (validated against the layouts in config.ts). */
  layout?: string;
}

const userSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, 'name must be 1-64 of A-Z a-z 0-9 . _ @ -'),
  roles: z.array(z.enum(ROLES)).min(1),
  passwordHash: z.string().refine((h) => parsePasswordHash(h) !== undefined, {
    message: 'passwordHash is not a scrypt hash from `expense-export hash-password` (plain-text passwords are refused)',
  }),
  layout: z.string().min(1).max(40).optional(),
});

export type ParseUsersResult = { ok: true; users: User[] } | { ok: false; problems: string[] };

export function parseUsers(json: string): ParseUsersResult {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return { ok: false, problems: ['is not valid JSON'] };
  }
  const parsed = z.array(userSchema).safeParse(raw);
  if (!parsed.success) {
    // Never echo the offending values: they may be passwords pasted by mistake.
    return { ok: false, problems: parsed.error.issues.map((i) => `[${i.path.join('.')}] ${i.message}`) };
  }
  const names = new Set<string>();
  for (const u of parsed.data) {
    if (names.has(u.name)) return { ok: false, problems: [`duplicate user "${u.name}"`] };
    names.add(u.name);
  }
  return { ok: true, users: parsed.data };
}
