import type { RequestHandler } from 'express';
import { AppError } from './app-error';
import type { OpenApiDoc } from './openapi';

const METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete'] as const;

/**
 * 405 with `Allow` for a path the service serves with other methods (RFC
 * 9110 §15.5.6), rather than a 404 that says the resource does not exist.
 * The paths and methods come from openapi.yaml, which a test keeps equal to
 * the routes; express answers HEAD wherever GET is served.
 */
export function methodNotAllowed(doc: OpenApiDoc): RequestHandler {
  const paths = Object.entries(doc.paths).map(([template, ops]) => {
    const pattern = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+');
    const methods = METHODS.filter((m) => m in ops).map((m) => m.toUpperCase());
    if (methods.includes('GET') && !methods.includes('HEAD')) methods.push('HEAD');
    return { regexp: new RegExp(`^${pattern}/?$`), methods };
  });
  return (req, _res, next) => {
    const match = paths.find((p) => p.regexp.test(req.path));
    if (!match || match.methods.includes(req.method)) return next();
    next(
      new AppError('method_not_allowed', `${req.method} is not allowed on ${req.path}; use ${match.methods.join(', ')}.`, {
        headers: { Allow: match.methods.join(', ') },
      }),
    );
  };
}
