import { z } from 'zod';
import { ROLES, type Role } from './users';

/**
 * Bearer-token (Microsoft Entra ID, or any OpenID provider) settings, as
 * src/config.ts hands them over once validated. Pure: no I/O here.
 */
export interface BearerSettings {
  /** Tenant ids (Entra `tid`). Empty: `tid` is not checked (a generic OpenID provider). */
  tenantIds: string[];
  /** Accepted `aud` values: the App ID URI and/or the client id. */
  audiences: string[];
  /** When set, only these clients (`azp`, `appid` or `client_id`) may call at all. */
  allowedClientIds?: string[];
  /** App-role value (the `roles` claim) to our roles. */
  roleMap: Record<string, Role[]>;
  /** One discovery document per URL; `{tenant}` in the configured URL gave one per tenant. */
  discoveryUrls: string[];
  algorithms: BearerAlgorithm[];
  clockSkewSec: number;
  /** Least time between two key re-fetches caused by an unknown `kid`. */
  refetchCooldownSec: number;
}

/** Asymmetric only: `none` and the HMAC family are never accepted, whatever the configuration says. */
export const BEARER_ALGORITHMS = ['RS256', 'PS256', 'ES256'] as const;
export type BearerAlgorithm = (typeof BEARER_ALGORITHMS)[number];

export const ENTRA_DISCOVERY_TEMPLATE = 'https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration';

/**
 * App-role values a new app registration is told to define (docs/identity.md),
 * plus our own role names, so either spelling works without a mapping.
 */
export const DEFAULT_ROLE_MAP: Readonly<Record<string, Role[]>> = {
  'Exports.Read': ['exporter'],
  'Results.Write': ['importer'],
  'Expenses.Approve': ['approver'],
  'ExpenseExport.Admin': ['admin'],
  ...Object.fromEntries(ROLES.map((r) => [r, [r]])),
};

const roleMapSchema = z.record(z.string().min(1).max(120), z.union([z.enum(ROLES).transform((r) => [r]), z.array(z.enum(ROLES)).min(1)]));

export type ParseResult<T> = { ok: true; value: T } | { ok: false; problems: string[] };

/** `{"Exports.Read": "exporter", "Ops": ["admin", "exporter"]}`; it replaces the defaults. */
export function parseRoleMap(json: string): ParseResult<Record<string, Role[]>> {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return { ok: false, problems: ['is not valid JSON'] };
  }
  const parsed = roleMapSchema.safeParse(raw);
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map((i) => `[${i.path.join('.')}] ${i.message} (roles: ${ROLES.join(', ')})`),
    };
  }
  return { ok: true, value: parsed.data };
}

/** A comma-separated list, blanks dropped. */
export const list = (v: string | undefined): string[] =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

/** One discovery URL per tenant when the template names `{tenant}`, else the URL itself. */
export function discoveryUrls(template: string, tenantIds: readonly string[]): string[] {
  return template.includes('{tenant}') ? tenantIds.map((t) => template.replaceAll('{tenant}', encodeURIComponent(t))) : [template];
}

const ENTRA_V2_ISSUER = /^https:\/\/login\.microsoftonline\.com\/([^/]+)\/v2\.0$/;

/**
 * The `iss` values a discovery document's issuer stands for. Entra's
 * multi-tenant documents say `{tenantid}`, filled in with each configured
 * tenant. An Entra v2 issuer also brings the tenant's v1 issuer
 * (`https://sts.windows.net/<tid>/`): an API registration whose
 * `accessTokenAcceptedVersion` is unset (the default) gets v1 tokens, signed
 * by the same keys.
 */
export function issuersFor(discoveredIssuer: string, tenantIds: readonly string[]): string[] {
  const filled = discoveredIssuer.includes('{tenantid}')
    ? tenantIds.map((t) => discoveredIssuer.replaceAll('{tenantid}', t))
    : [discoveredIssuer];
  const out = new Set<string>();
  for (const iss of filled) {
    out.add(iss);
    const tid = ENTRA_V2_ISSUER.exec(iss)?.[1];
    if (tid) out.add(`https://sts.windows.net/${tid}/`);
  }
  return [...out];
}
