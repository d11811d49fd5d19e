import type { RequestHandler } from 'express';
import { timingSafeEqual, createHash } from 'node:crypto';
import { Passport } from 'passport';
import { BasicStrategy } from 'passport-http';
import type { Authenticator } from './authenticator';
import { AuthError } from './errors';
import { rolesOf, type RouteKey } from './route-roles';
import type { User } from './users';

declare module 'express-serve-static-core' {
  interface Request {
    principal?: { name: string; roles: readonly string[] };
  }
}

export const REALM = 'expense-export';
const CHALLENGE = { 'WWW-Authenticate': `Basic realm="${REALM}", charset="UTF-8"` };

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
}

/** Builds `guard(routeKey)`: Basic auth (sessions off) plus the route's roles from ROUTE_ROLES. */
export function createGuard(opts: GuardOptions): (key: RouteKey) => RequestHandler {
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
      const authenticate = passport.authenticate('basic', { session: false }, (err: unknown, user: User | false) => {
        if (err instanceof RateLimited) {
          return next(
            new AuthError('too_many_requests', 'Too many failed sign-in attempts; try again later.', {
              'Retry-After': String(err.retryAfterSec),
            }),
          );
        }
        if (err) return next(err);
        // One message for unknown user and wrong password: no user enumeration.
        if (!user) return next(new AuthError('unauthorized', 'Valid Basic credentials are required.', CHALLENGE));
        req.principal = { name: user.name, roles: user.roles };
        if (!user.roles.some((r) => roles.includes(r))) {
          return next(new AuthError('forbidden', `This operation needs one of the roles: ${roles.join(', ')}.`));
        }
        next();
      }) as RequestHandler;
      return authenticate(req, res, next);
    };
  };
}
