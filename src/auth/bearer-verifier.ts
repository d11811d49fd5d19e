import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import type { Logger } from 'pino';
import type { BearerSettings } from './bearer-settings';
import { IssuerKeys, KeysUnavailableError } from './issuer-keys';
import type { Role } from './users';

export interface BearerPrincipal {
  /** `app:<client id>/<object id>` (client credentials) or `user:<client id>/<object id>` (a delegated token). */
  name: string;
  clientId: string;
  roles: Role[];
  delegated: boolean;
}

/** Why a token was refused: a stable reason for logs and metrics, and a description for the client that never quotes the token. */
export type BearerRefusal = { status: 401 | 403; reason: string; description: string };
export type BearerOutcome = { ok: true; principal: BearerPrincipal } | ({ ok: false } & BearerRefusal);

const refuse = (reason: string, description: string, status: 401 | 403 = 401): BearerOutcome => ({
  ok: false,
  status,
  reason,
  description,
});

/** jose's errors, as what the client may be told. */
function describe(err: unknown): BearerOutcome {
  if (err instanceof KeysUnavailableError)
    return refuse('keys_unavailable', 'The signing key is unknown and the issuer keys cannot be fetched now');
  if (err instanceof errors.JWTExpired) return refuse('expired', 'The token has expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return refuse('not_yet_valid', 'The token is not valid yet');
    if (err.claim === 'aud') return refuse('audience', 'The token is not for this API (aud)');
    if (err.claim === 'iss') return refuse('issuer', 'The token issuer is not accepted');
    return refuse('claims', `The token claim ${err.claim} is missing or invalid`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return refuse('algorithm', 'The token signing algorithm is not accepted');
  if (err instanceof errors.JWSSignatureVerificationFailed) return refuse('signature', 'The token signature is invalid');
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys)
    return refuse('unknown_key', 'The token signing key is unknown');
  if (err instanceof errors.JOSEError) return refuse('malformed', 'The token is malformed');
  throw err;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/**
 * Who the token speaks for and with which of our roles. Roles come only from
 * the `roles` claim (app roles) through the mapping; a delegated token's `scp`
 * grants nothing, so a user approves only with an app role assigned to them.
 */
export function principalOf(claims: JWTPayload, roleMap: BearerSettings['roleMap']): BearerPrincipal | undefined {
  // v2 tokens name the client in `azp`, v1 in `appid`, RFC 9068 (other OpenID providers) in `client_id`.
  const client = str(claims.azp) ?? str(claims.appid) ?? str(claims.client_id);
  if (!client) return undefined;
  const delegated = typeof claims.scp === 'string';
  const oid = str(claims.oid);
  const roles = new Set<Role>();
  for (const value of Array.isArray(claims.roles) ? claims.roles : []) {
    if (typeof value === 'string') for (const r of roleMap[value] ?? []) roles.add(r);
  }
  return { name: `${delegated ? 'user' : 'app'}:${client}${oid ? `/${oid}` : ''}`, clientId: client, roles: [...roles], delegated };
}

/**
 * Validates `Authorization: Bearer` JWTs from Entra ID (or any OpenID
 * provider named by its discovery URL): signature against the issuer's keys,
 * an allow-listed asymmetric algorithm, iss, aud, exp, nbf (with the clock
 * skew) and tid.
 */
export class BearerVerifier {
  readonly sources: IssuerKeys[];

  constructor(
    private readonly s: BearerSettings,
    logger: Logger,
    opts: { fetch?: typeof fetch; now?: () => number } = {},
  ) {
    this.sources = s.discoveryUrls.map(
      (discoveryUrl) => new IssuerKeys({ discoveryUrl, tenantIds: s.tenantIds, cooldownMs: s.refetchCooldownSec * 1000, logger, ...opts }),
    );
  }

  /** For /readyz: every issuer has had its keys loaded at least once (tries now, within the cooldown, if not). */
  async keysReady(): Promise<boolean> {
    const loaded = await Promise.all(this.sources.map((k) => k.ensureLoaded()));
    return loaded.every(Boolean);
  }

  async verify(token: string): Promise<BearerOutcome> {
    let alg: string | undefined;
    let iss: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
      iss = decodeJwt(token).iss;
    } catch {
      return refuse('malformed', 'The token is malformed');
    }
    // Before any key lookup: `none` and HMAC (a public key used as the secret) never get as far as a key.
    if (!alg || !(this.s.algorithms as string[]).includes(alg)) return refuse('algorithm', 'The token signing algorithm is not accepted');
    const source = iss === undefined ? undefined : await this.sourceFor(iss);
    if (!source) {
      if (this.sources.every((k) => !k.issuers)) return describe(new KeysUnavailableError('issuer not discovered'));
      return refuse('issuer', 'The token issuer is not accepted');
    }
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, source.getKey, {
        issuer: source.issuers,
        audience: this.s.audiences,
        algorithms: this.s.algorithms,
        clockTolerance: this.s.clockSkewSec,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      return describe(err);
    }
    if (this.s.tenantIds.length > 0 && !this.s.tenantIds.includes(str(claims.tid) ?? '')) {
      return refuse('tenant', 'The token tenant (tid) is not accepted');
    }
    const principal = principalOf(claims, this.s.roleMap);
    if (!principal) return refuse('claims', 'The token names no client (azp, appid or client_id)');
    if (this.s.allowedClientIds && !this.s.allowedClientIds.includes(principal.clientId)) {
      return refuse('client_not_allowed', 'This client may not call this API', 403);
    }
    return { ok: true, principal };
  }

  /** The issuer the token names, discovering sources not yet discovered (each at most once per cooldown). */
  private async sourceFor(iss: string): Promise<IssuerKeys | undefined> {
    const known = this.sources.find((k) => k.issuers?.includes(iss));
    if (known) return known;
    await Promise.all(this.sources.filter((k) => !k.issuers).map((k) => k.ensureLoaded()));
    return this.sources.find((k) => k.issuers?.includes(iss));
  }
}
