import { createLocalJWKSet, errors, type JWTVerifyGetKey, type JSONWebKeySet } from 'jose';
import type { Logger } from 'pino';
import { z } from 'zod';
import { issuersFor } from './bearer-settings';

/** The issuer's keys could not be fetched, and none cached matches: a 401 for the token, never a 500. */
export class KeysUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeysUnavailableError';
  }
}

/** Keys are re-read at least this often (Entra's guidance: daily), so a key the issuer withdrew stops working. */
export const KEYS_MAX_AGE_MS = 24 * 60 * 60 * 1000;
const FETCH_TIMEOUT_MS = 5000;

const discoverySchema = z.object({ issuer: z.string().min(1), jwks_uri: z.url() });

export interface IssuerKeysOptions {
  discoveryUrl: string;
  tenantIds: readonly string[];
  /** Least time between two re-fetches caused by an unknown `kid`, and between two failed loads. */
  cooldownMs: number;
  logger: Logger;
  fetch?: typeof fetch;
  now?: () => number;
}

/**
 * One issuer's discovery document and signing keys (JWKS), cached.
 *
 * Why not jose's createRemoteJWKSet: once its cache is stale it re-fetches and
 * throws when that fails, so an outage of the issuer would refuse tokens whose
 * keys we hold. Here the last good key set keeps working through an outage
 * (stale-if-error); an unknown `kid` triggers one re-fetch, at most one per
 * cooldown, so a storm of made-up `kid`s cannot turn us into a load on the
 * issuer, while a real key rotation is picked up at once. jose still does the
 * key selection (createLocalJWKSet) and all of the verification.
 */
export class IssuerKeys {
  /** The `iss` values this source stands for, once discovered. */
  issuers: string[] | undefined;
  private jwksUri: string | undefined;
  private local: JWTVerifyGetKey | undefined;
  private loadedAt = 0;
  private lastRefetchAt = Number.NEGATIVE_INFINITY;
  private lastFailureAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | undefined;
  private readonly fetch: typeof fetch;
  private readonly now: () => number;

  constructor(private readonly o: IssuerKeysOptions) {
    this.fetch = o.fetch ?? globalThis.fetch;
    this.now = o.now ?? Date.now;
  }

  get everLoaded(): boolean {
    return this.local !== undefined;
  }

  /** Discovers and loads the keys unless a load failed within the cooldown. Never throws. */
  async ensureLoaded(): Promise<boolean> {
    if (this.local) return true;
    if (this.now() - this.lastFailureAt < this.o.cooldownMs) return false;
    try {
      await this.load();
      return true;
    } catch {
      return false;
    }
  }

  /** For jose's jwtVerify: the key for a token's header, re-fetching once (per cooldown) on an unknown `kid`. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    if (!this.local && !(await this.ensureLoaded())) {
      throw new KeysUnavailableError('the issuer signing keys have never been loaded and cannot be fetched now');
    }
    if (this.now() - this.loadedAt > KEYS_MAX_AGE_MS && this.now() - this.lastFailureAt >= this.o.cooldownMs) {
      await this.load().catch(() => undefined); // stale-if-error: the cached keys stay in use, and the failure is logged
    }
    try {
      return await this.local!(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      // A fetch already under way (tokens arriving together during a rotation) is waited for, not repeated.
      let loading = this.inflight;
      if (!loading) {
        if (this.now() - this.lastRefetchAt < this.o.cooldownMs) throw err;
        this.lastRefetchAt = this.now();
        loading = this.load();
      }
      try {
        await loading;
      } catch {
        this.o.logger.error(
          { kid: header.kid, discoveryUrl: this.o.discoveryUrl },
          'bearer token refused: its key id is not among the cached keys and the issuer keys cannot be fetched',
        );
        throw new KeysUnavailableError('the token signing key is unknown and the issuer keys cannot be fetched now');
      }
      return this.local!(header, token);
    }
  };

  /** Single-flight: tokens arriving together during a rotation cause one fetch. */
  load(): Promise<void> {
    this.inflight ??= this.loadOnce().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async loadOnce(): Promise<void> {
    try {
      if (!this.jwksUri) {
        const doc = discoverySchema.parse(await this.getJson(this.o.discoveryUrl));
        this.issuers = issuersFor(doc.issuer, this.o.tenantIds);
        this.jwksUri = doc.jwks_uri;
      }
      const jwks = (await this.getJson(this.jwksUri)) as JSONWebKeySet;
      const local = createLocalJWKSet(jwks); // throws on a malformed set: the old one stays
      const kids = (jwks.keys ?? []).map((k) => k.kid).filter(Boolean);
      this.local = local;
      this.loadedAt = this.now();
      this.o.logger.info({ jwksUri: this.jwksUri, kids }, 'issuer signing keys loaded');
    } catch (err) {
      this.lastFailureAt = this.now();
      this.o.logger.warn(
        { discoveryUrl: this.o.discoveryUrl, err: { message: (err as Error).message }, cachedKeys: this.everLoaded },
        this.everLoaded
          ? 'issuer signing keys could not be refreshed; the cached keys stay in use'
          : 'issuer signing keys could not be loaded',
      );
      throw err;
    }
  }

  private async getJson(url: string): Promise<unknown> {
    const res = await this.fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`${url} answered ${res.status}`);
    return res.json();
  }
}
