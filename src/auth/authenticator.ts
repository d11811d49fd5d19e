import { createHmac, randomBytes } from 'node:crypto';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { parsePasswordHash, verifyPassword } from './password';
import type { User } from './users';

export type AuthResult = { ok: true; user: User } | { ok: false; retryAfterSec?: number };

/**
 * How long a verified credential is accepted again without scrypt and without
 * consulting the failure limits. Long enough that a scheduled pull (payroll's
 * exporter) keeps working through a working day of someone else's failures;
 * users and hashes only change with a restart, which empties the cache.
 */
export const VERIFIED_CREDENTIAL_TTL_MS = 12 * 60 * 60 * 1000;

export interface AuthenticatorOptions {
  /** Failures per (user name, client address) within the window before 429. */
  maxFailures: number;
  /** Failures per client address, whatever the names, within the window before 429. */
  maxFailuresPerAddress: number;
  failureWindowSec: number;
  cacheTtlMs?: number;
  cacheMax?: number;
}

/**
 * Verifies Basic credentials. scrypt is slow on purpose, so successful
 * verifications are cached under an HMAC of the credentials (keyed by a
 * per-process secret, so the cache itself holds nothing reusable). Failures
 * are never cached.
 *
 * Failures count against (name, address) and against the address alone, never
 * against the name alone: a per-name counter lets anyone lock a user out from
 * anywhere by failing on purpose. The per-address budget is larger, so one
 * broken script behind a NAT does not stop its neighbours. A credential that
 * verified recently is accepted before the limits are consulted, so nobody
 * else's failures, under any name or from any address, refuse it.
 */
export class Authenticator {
  private readonly users: Map<string, { user: User; hash: NonNullable<ReturnType<typeof parsePasswordHash>> }>;
  private readonly cache = new Map<string, { user: User; expires: number }>();
  private readonly verifying = new Map<string, Promise<AuthResult>>();
  private readonly secret = randomBytes(32);
  private readonly byNameAndAddress: RateLimiterMemory;
  private readonly byAddress: RateLimiterMemory;
  private readonly ttl: number;
  private readonly cacheMax: number;
  // Unknown names are checked against this, so a miss costs the same as a wrong password.
  private readonly decoy = parsePasswordHash('scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=')!;

  constructor(users: readonly User[], opts: AuthenticatorOptions) {
    this.users = new Map(users.map((u) => [u.name, { user: u, hash: parsePasswordHash(u.passwordHash)! }]));
    this.byNameAndAddress = new RateLimiterMemory({ points: opts.maxFailures, duration: opts.failureWindowSec });
    this.byAddress = new RateLimiterMemory({ points: opts.maxFailuresPerAddress, duration: opts.failureWindowSec });
    this.ttl = opts.cacheTtlMs ?? VERIFIED_CREDENTIAL_TTL_MS;
    this.cacheMax = opts.cacheMax ?? 10_000;
  }

  get userCount(): number {
    return this.users.size;
  }

  async verify(name: string, password: string, client: string, now = Date.now()): Promise<AuthResult> {
    const key = createHmac('sha256', this.secret).update(name).update('\0').update(password).digest('base64');
    // Before the limits: a credential proven right recently is not refused because of others' failures.
    const hit = this.cache.get(key);
    if (hit && hit.expires > now) return { ok: true, user: hit.user };

    // The same credentials arrive many at once (a client's connection pool at start, or every request in
    // flight when the cache entry expires under load): one scrypt answers them all, instead of one each
    // queueing on the thread pool. Only a success is shared; a failure is re-checked and counted per request.
    const running = this.verifying.get(key);
    if (running) {
      const shared = await running;
      if (shared.ok) return shared;
    }
    const mine = this.verifyUncached(key, name, password, client, now);
    this.verifying.set(key, mine);
    try {
      return await mine;
    } finally {
      if (this.verifying.get(key) === mine) this.verifying.delete(key);
    }
  }

  private async verifyUncached(key: string, name: string, password: string, client: string, now: number): Promise<AuthResult> {
    const pair = JSON.stringify([name, client]);
    const blocked = await this.blockedFor(pair, client);
    if (blocked) return { ok: false, retryAfterSec: blocked };

    const entry = this.users.get(name);
    const valid = await verifyPassword(password, entry?.hash ?? this.decoy);
    if (valid && entry) {
      this.remember(key, entry.user, now);
      return { ok: true, user: entry.user };
    }
    await Promise.all([this.byNameAndAddress.penalty(pair, 1), this.byAddress.penalty(client, 1)]);
    return { ok: false };
  }

  /**
   * The per-address budget, for failures of other schemes (bearer tokens).
   * They count only against the address, never against a name, so they never
   * lock out a Basic user elsewhere; a valid token is checked before this, so a
   * blocked address never refuses one.
   */
  async addressBlockedFor(client: string): Promise<number> {
    const r = await this.byAddress.get(client);
    return r && r.consumedPoints >= this.byAddress.points ? Math.ceil(r.msBeforeNext / 1000) : 0;
  }

  async countAddressFailure(client: string): Promise<void> {
    await this.byAddress.penalty(client, 1);
  }

  /** Bounded: past cacheMax the oldest entry goes (re-verifying moves an entry to the end). */
  private remember(key: string, user: User, now: number): void {
    this.cache.delete(key);
    if (this.cache.size >= this.cacheMax) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, { user, expires: now + this.ttl });
  }

  /** Seconds until this (name, address) and this address may try again, or 0. */
  private async blockedFor(pair: string, client: string): Promise<number> {
    const wait = async (limiter: RateLimiterMemory, k: string) => {
      const r = await limiter.get(k);
      return r && r.consumedPoints >= limiter.points ? Math.ceil(r.msBeforeNext / 1000) : 0;
    };
    const [p, a] = await Promise.all([wait(this.byNameAndAddress, pair), wait(this.byAddress, client)]);
    return Math.max(p, a);
  }
}
