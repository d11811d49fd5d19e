import type { RequestHandler } from 'express';
import { timingSafeEqual, createHash } from 'node:crypto';
import { Passport } from 'passport';
import { BasicStrategy } from 'passport-http';
import type { Authenticator } from './authenticator';
import type { BearerVerifier } from './bearer-verifier';
import { AuthError } from './errors';
import { rolesOf, type RouteKey } from './route-roles';
import type { User } from './users';

declare module 'express-serve-static-core' {
  interface Request {
    principal?: { name: string; roles: readonly string[] };
  }
}

export const REALM = 'expense-export';
const BASIC_CHALLENGE = `Basic realm="${REALM}", charset="UTF-8"`;

/** RFC 6750 §3: no error attribute when the request carried no token. Descriptions are our fixed texts, never the token. */
const bearerChallenge = (error?: 'invalid_token' | 'insufficient_scope', description?: string) =>
  `Bearer realm="${REALM}"${error ? `, error="${error}", error_description="${description}"` : ''}`;

class RateLimited extends Error {
  override name = 'RateLimited';
  constructor(readonly retryAfterSec: number) {
    super('too many failed attempts');
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export interface GuardOptions {
  authenticator: Authenticator;
  /** Optional bearer token that also opens GET /metrics (for Prometheus scrapers). */
  metricsToken?: string;
  /** Bearer tokens (Entra ID) beside Basic, when configured (ENTRA_AUDIENCES). */
  bearer?: BearerVerifier;
}

/**
 * Builds `guard(routeKey)`: Basic auth (sessions off), or a bearer token when
 * configured, plus the route's roles from ROUTE_ROLES. Every 401 offers every
 * scheme the server accepts, one WWW-Authenticate header each.
 */
export function createGuard(opts: GuardOptions): (key: RouteKey) => RequestHandler {
  const unauthorized = (message: string, bearerError?: string) =>
    new AuthError('unauthorized', message, {
      'WWW-Authenticate': opts.bearer
        ? [BASIC_CHALLENGE, bearerChallenge(bearerError ? 'invalid_token' : undefined, bearerError)]
        : BASIC_CHALLENGE,
    });
  const forbidden = (message: string, bearer: boolean) =>
    new AuthError('forbidden', message, bearer ? { 'WWW-Authenticate': bearerChallenge('insufficient_scope', message) } : {});
  const tooMany = (retryAfterSec: number) =>
    new AuthError('too_many_requests', 'Too many failed sign-in attempts; try again later.', { 'Retry-After': String(retryAfterSec) });

  const passport = new Passport();
  passport.use(
    new BasicStrategy({ passReqToCallback: true, realm: REALM }, (req, name, password, done) => {
      opts.authenticator
        .verify(name, password, req.ip ?? 'unknown')
        .then((r) => {
          if (r.ok) done(null, r.user);
          else if (r.retryAfterSec) done(new RateLimited(r.retryAfterSec));
          else done(null, false);
        })
        .catch(done);
    }),
  );
  const tokenDigest = opts.metricsToken ? digest(opts.metricsToken) : undefined;

  return (key) => {
    const roles = rolesOf(key);
    if (roles === null) return (_req, _res, next) => next();
    return (req, res, next) => {
      if (tokenDigest && key === 'GET /metrics') {
        const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
        if (m && timingSafeEqual(digest(m[1]), tokenDigest)) {
          req.principal = { name: 'metrics-token', roles: [] };
          return next();
        }
      }
      const bearerToken = opts.bearer ? /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1] : undefined;
      if (opts.bearer && bearerToken !== undefined) {
        const client = req.ip ?? 'unknown';
        opts.bearer
          .verify(bearerToken)
          .then(async (outcome) => {
            if (outcome.ok) {
              req.principal = { name: outcome.principal.name, roles: outcome.principal.roles };
              if (outcome.principal.roles.some((r) => roles.includes(r))) return next();
              return next(forbidden(`This operation needs one of the roles: ${roles.join(', ')}.`, true));
            }
            req.log.warn({ auth: 'bearer', reason: outcome.reason }, 'bearer token refused');
            if (outcome.status === 403) return next(forbidden(outcome.description, true));
            // Counted against the address only (never a name), and only after the token failed: a valid token is never throttled.
            const blocked = await opts.authenticator.addressBlockedFor(client);
            if (blocked) return next(tooMany(blocked));
            await opts.authenticator.countAddressFailure(client);
            next(unauthorized('A valid bearer token or Basic credentials are required.', outcome.description));
          })
          .catch(next);
        return;
      }
      const authenticate = passport.authenticate('basic', { session: false }, (err: unknown, user: User | false) => {
        if (err instanceof RateLimited) return next(tooMany(err.retryAfterSec));
        if (err) return next(err);
        // One message for unknown user and wrong password: no user enumeration.
        if (!user)
          return next(
            unauthorized(opts.bearer ? 'Valid Basic credentials or a bearer token are required.' : 'Valid Basic credentials are required.'),
          );
        req.principal = { name: user.name, roles: user.roles };
        if (!user.roles.some((r) => roles.includes(r))) {
          return next(forbidden(`This operation needs one of the roles: ${roles.join(', ')}.`, false));
        }
        next();
      }) as RequestHandler;
      return authenticate(req, res, next);
    };
  };
}
