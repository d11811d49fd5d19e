import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseUsers, type User } from './auth/users';
import type { StorageSource } from './storage/clients';
import {
  BEARER_ALGORITHMS,
  DEFAULT_ROLE_MAP,
  ENTRA_DISCOVERY_TEMPLATE,
  discoveryUrls,
  list,
  parseRoleMap,
  type BearerAlgorithm,
  type BearerSettings,
} from './auth/bearer-settings';
import { loadLayouts, type LayoutRegistry } from './layouts/registry';
import { EMBEDDED_BLOB_TARGET, parseDeliveryTargets, parseWebhooks, type DeliveryTarget, type WebhookEndpoint } from './delivery/targets';

/**
 * The only place that reads process.env. Every problem is reported at once,
 * each prefixed with the variable's name, so one failed start shows them all.
 */

const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
    .optional()
    .transform((v) => (v === undefined ? def : ['true', '1', 'yes'].includes(v)));

const int = (def: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return def;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `expected an integer from ${min} to ${max}, got "${v}"` });
        return z.NEVER;
      }
      return n;
    });

const str = (def: string) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v === '' ? def : v));
const opt = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v === '' ? undefined : v));
// Azure table names: alphanumeric, 3-63, not starting with a digit.
const tableName = (def: string) => str(def).pipe(z.string().regex(/^[A-Za-z][A-Za-z0-9]{2,62}$/, 'invalid Azure table name'));
// Queue names: lowercase, digits, single hyphens, 3-63; "-poison" is appended, so leave room for it.
const queueName = (def: string) =>
  str(def).pipe(z.string().regex(/^(?=.{3,56}$)[a-z0-9]+(-[a-z0-9]+)*$/, 'invalid Azure queue name (3-56 chars)'));

const timeZone = str('UTC').pipe(
  z.string().refine((tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'not an IANA time zone'),
);

const crashPoints = [
  'after-approve-save',
  'after-receive',
  'after-insert',
  'after-update',
  'before-delete',
  // Delivery: the file is complete out of sight (.part, staged blocks) and its hash recorded, not yet under its name;
  // and: it is under its name, its sidecar not yet written and the ledger not yet told.
  'delivery-before-commit',
  'delivery-after-commit',
] as const;
export type CrashPoint = (typeof crashPoints)[number];

export const envSchema = z.object({
  NODE_ENV: str('development'),
  PORT: int(3000, 0, 65535),
  HOST: str('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  AZURE_STORAGE_CONNECTION_STRING: opt,
  AZURE_STORAGE_ACCOUNT_NAME: opt.pipe(
    z
      .string()
      .regex(/^[a-z0-9]{3,24}$/, 'invalid storage account name')
      .optional(),
  ),
  AZURE_STORAGE_TABLE_ENDPOINT: opt.pipe(z.url().optional()),
  AZURE_STORAGE_QUEUE_ENDPOINT: opt.pipe(z.url().optional()),
  AZURITE_LOCATION: str('.azurite'),
  AZURITE_IN_MEMORY: bool(false),
  EXPENSES_TABLE: tableName('Expenses'),
  EXPENSE_ITEMS_TABLE: tableName('ExpenseItems'),
  EXPORT_TABLE: tableName('ExpenseExport'),
  OUTBOX_TABLE: tableName('ExpenseOutbox'),
  RESULT_IMPORTS_TABLE: tableName('ResultImports'),
  DELIVERIES_TABLE: tableName('ExpenseDeliveries'),
  WEBHOOK_OUTBOX_TABLE: tableName('WebhookOutbox'),
  APPROVALS_QUEUE: queueName('expense-approvals'),
  STORAGE_TIMEOUT_MS: int(4000, 100, 120000),
  CONSUMER_ENABLED: bool(true),
  CONSUMER_CONCURRENCY: int(8, 1, 64),
  CONSUMER_MAX_IDLE_MS: int(1000, 100, 60000),
  CONSUMER_MAX_OUTAGE_BACKOFF_MS: int(30000, 100, 300000),
  QUEUE_VISIBILITY_TIMEOUT_S: int(30, 2, 3600),
  QUEUE_MAX_DEQUEUE_COUNT: int(5, 1, 100),
  APPROVAL_SWEEP_INTERVAL_MS: int(30000, 1000, 3600000),
  APPROVAL_SWEEP_GRACE_MS: int(5000, 0, 3600000),
  SHUTDOWN_TIMEOUT_MS: int(8000, 100, 600000),
  EXPORT_TIMEZONE: timeZone,
  LAYOUTS_DIR: opt,
  EXPORT_CLOSE_GRACE_MS: int(1_800_000, 0, 7 * 86_400_000),
  EXPORT_CLOSE_INTERVAL_MS: int(60_000, 1000, 3_600_000),
  ACK_APPLY_INTERVAL_MS: int(10_000, 100, 3_600_000),
  RESULTS_MAX_BYTES: int(64 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  EXPORT_MAX_CONCURRENT: int(8, 1, 1000),
  EXPORT_MAX_CONCURRENT_PER_USER: int(2, 1, 1000),
  AUTH_USERS: opt,
  AUTH_USERS_FILE: opt,
  AUTH_MAX_FAILURES: int(10, 1, 10000),
  AUTH_MAX_FAILURES_PER_ADDRESS: int(100, 1, 1_000_000),
  AUTH_FAILURE_WINDOW_S: int(900, 1, 86400),
  ENTRA_TENANT_IDS: opt,
  ENTRA_AUDIENCES: opt,
  ENTRA_ALLOWED_CLIENT_IDS: opt,
  ENTRA_ROLE_MAP: opt,
  ENTRA_DISCOVERY_URL: str(ENTRA_DISCOVERY_TEMPLATE).pipe(
    z.string().refine((u) => discoveryUrlProblem(u) === undefined, { message: 'expected an https URL (http only on loopback)' }),
  ),
  ENTRA_ALGORITHMS: str('RS256').pipe(
    z.string().refine((v) => list(v).length > 0 && list(v).every((a) => (BEARER_ALGORITHMS as readonly string[]).includes(a)), {
      message: `expected a comma-separated list of ${BEARER_ALGORITHMS.join(', ')} (none and HMAC are never accepted)`,
    }),
  ),
  ENTRA_CLOCK_SKEW_S: int(60, 0, 300),
  ENTRA_JWKS_COOLDOWN_S: int(60, 1, 3600),
  EXPENSE_EXPORT_URL: opt.pipe(z.url().optional()),
  EXPENSE_EXPORT_TOKEN: opt,
  METRICS_TOKEN: opt.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  TRUST_PROXY: opt,
  TLS_CERT_FILE: opt,
  TLS_KEY_FILE: opt,
  DEMO_DATA: bool(true),
  DELIVERY_TARGETS: opt,
  DELIVERY_TARGETS_FILE: opt,
  DELIVERY_EMBEDDED_BLOB: bool(true),
  DELIVERY_INTERVAL_MS: int(30_000, 100, 3_600_000),
  DELIVERY_LOOKBACK_DAYS: int(31, 1, 366),
  DELIVERY_MAX_ATTEMPTS: int(8, 1, 1000),
  DELIVERY_RETRY_BASE_MS: int(5_000, 10, 3_600_000),
  DELIVERY_LEASE_MS: int(300_000, 1000, 3_600_000),
  DELIVERY_CONCURRENCY: int(1, 1, 8),
  WEBHOOKS: opt,
  WEBHOOKS_FILE: opt,
  WEBHOOK_INTERVAL_MS: int(5_000, 100, 3_600_000),
  WEBHOOK_TIMEOUT_MS: int(10_000, 100, 120_000),
  WEBHOOK_MAX_ATTEMPTS: int(12, 1, 1000),
  WEBHOOK_RETRY_BASE_MS: int(2_000, 10, 3_600_000),
  FAULT_CRASH_AT: z.enum(crashPoints).optional(),
});

export type Env = z.infer<typeof envSchema>;

/** Keys and tokens travel over TLS; plain http only to a provider on this machine (the tests' OpenID provider). */
function discoveryUrlProblem(template: string): string | undefined {
  let url: URL;
  try {
    url = new URL(template.replaceAll('{tenant}', 'tenant'));
  } catch {
    return 'not a URL';
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) return undefined;
  return 'not https';
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The bearer settings, or undefined when ENTRA_AUDIENCES is unset (Basic only). Problems are appended. */
function bearerSettings(env: Env, problems: string[]): BearerSettings | undefined {
  const tenantIds = list(env.ENTRA_TENANT_IDS);
  const audiences = list(env.ENTRA_AUDIENCES);
  const allowed = list(env.ENTRA_ALLOWED_CLIENT_IDS);
  for (const t of tenantIds) {
    // `common`, `organizations` or a domain would let any tenant's tokens in, or fail the `tid` check.
    if (!GUID.test(t)) problems.push(`ENTRA_TENANT_IDS: "${t}" is not a tenant id (a GUID, as in the Entra admin center)`);
  }
  let roleMap: BearerSettings['roleMap'] = { ...DEFAULT_ROLE_MAP };
  if (env.ENTRA_ROLE_MAP) {
    const parsed = parseRoleMap(env.ENTRA_ROLE_MAP);
    if (parsed.ok) roleMap = parsed.value;
    else problems.push(...parsed.problems.map((p) => `ENTRA_ROLE_MAP: ${p}`));
  }
  if (audiences.length === 0) {
    const set = (['ENTRA_TENANT_IDS', 'ENTRA_ALLOWED_CLIENT_IDS', 'ENTRA_ROLE_MAP'] as const).filter((k) => env[k]);
    if (set.length > 0) problems.push(`ENTRA_AUDIENCES: required when ${set.join(', ')} is set (the App ID URI and/or the client id)`);
    return undefined;
  }
  if (env.ENTRA_DISCOVERY_URL.includes('{tenant}') && tenantIds.length === 0) {
    problems.push('ENTRA_TENANT_IDS: required: ENTRA_DISCOVERY_URL names {tenant}');
  }
  return {
    tenantIds,
    audiences,
    allowedClientIds: allowed.length > 0 ? allowed : undefined,
    roleMap,
    discoveryUrls: discoveryUrls(env.ENTRA_DISCOVERY_URL, tenantIds),
    algorithms: list(env.ENTRA_ALGORITHMS) as BearerAlgorithm[],
    clockSkewSec: env.ENTRA_CLOCK_SKEW_S,
    refetchCooldownSec: env.ENTRA_JWKS_COOLDOWN_S,
  };
}

/** Variables for the test suite only, kept out of the operators' configuration table (docs/development.md names them). */
export const TEST_ONLY_VARIABLES: ReadonlySet<keyof Env> = new Set(['FAULT_CRASH_AT']);

export type { StorageSource };

export interface Config extends Env {
  storage: StorageSource;
  poisonQueue: string;
  users: User[];
  /** Bearer tokens (Entra ID) beside Basic; undefined when ENTRA_AUDIENCES is unset. */
  bearer?: BearerSettings;
  /** The built-in layouts and those of LAYOUTS_DIR, every one validated. */
  layouts: LayoutRegistry;
  deliveryTargets: DeliveryTarget[];
  webhooks: WebhookEndpoint[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

function storageSource(env: Env): StorageSource {
  if (env.AZURE_STORAGE_CONNECTION_STRING) {
    return { kind: 'connection-string', connectionString: env.AZURE_STORAGE_CONNECTION_STRING };
  }
  const account = env.AZURE_STORAGE_ACCOUNT_NAME;
  if (account || env.AZURE_STORAGE_TABLE_ENDPOINT || env.AZURE_STORAGE_QUEUE_ENDPOINT) {
    return {
      kind: 'identity',
      tableEndpoint: env.AZURE_STORAGE_TABLE_ENDPOINT ?? `https://${account}.table.core.windows.net`,
      queueEndpoint: env.AZURE_STORAGE_QUEUE_ENDPOINT ?? `https://${account}.queue.core.windows.net`,
    };
  }
  return { kind: 'embedded', location: env.AZURITE_LOCATION, inMemory: env.AZURITE_IN_MEMORY };
}

export interface LoadOptions {
  /** Only `serve` answers HTTP; CLI chores that talk to storage alone need no users. */
  requireUsers?: boolean;
}

export function loadConfig(source: NodeJS.ProcessEnv = process.env, opts: LoadOptions = {}): Config {
  const parsed = envSchema.safeParse(source);
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  if (!parsed.success) throw new ConfigError(problems);
  const env = parsed.data;

  if (!env.AZURE_STORAGE_CONNECTION_STRING && !env.AZURE_STORAGE_ACCOUNT_NAME) {
    if (!!env.AZURE_STORAGE_TABLE_ENDPOINT !== !!env.AZURE_STORAGE_QUEUE_ENDPOINT) {
      problems.push('AZURE_STORAGE_TABLE_ENDPOINT: set it together with AZURE_STORAGE_QUEUE_ENDPOINT, or set AZURE_STORAGE_ACCOUNT_NAME');
    }
  }
  if (!!env.TLS_CERT_FILE !== !!env.TLS_KEY_FILE) problems.push('TLS_CERT_FILE: set it together with TLS_KEY_FILE');
  // Below the per-(name, address) budget, one client's typos under one name would block its whole address.
  if (env.AUTH_MAX_FAILURES_PER_ADDRESS < env.AUTH_MAX_FAILURES) {
    problems.push('AUTH_MAX_FAILURES_PER_ADDRESS: must be at least AUTH_MAX_FAILURES');
  }
  if (env.AUTH_USERS && env.AUTH_USERS_FILE) problems.push('AUTH_USERS: set AUTH_USERS or AUTH_USERS_FILE, not both');

  let users: User[] = [];
  const usersVar = env.AUTH_USERS_FILE ? 'AUTH_USERS_FILE' : 'AUTH_USERS';
  let usersJson = env.AUTH_USERS;
  if (env.AUTH_USERS_FILE) {
    try {
      usersJson = readFileSync(env.AUTH_USERS_FILE, 'utf8');
    } catch (err) {
      problems.push(`AUTH_USERS_FILE: cannot read ${env.AUTH_USERS_FILE} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  if (usersJson !== undefined) {
    const result = parseUsers(usersJson);
    if (result.ok) users = result.users;
    else problems.push(...result.problems.map((p) => `${usersVar}: ${p}`));
  }

  const bearer = bearerSettings(env, problems);
  const loaded = loadLayouts(env.LAYOUTS_DIR, env.EXPORT_TIMEZONE);
  if (!loaded.ok) problems.push(...loaded.problems.map((p) => `LAYOUTS_DIR: ${p}`));
  else
    users.forEach((u, i) => {
      if (u.layout !== undefined && !loaded.registry.get(u.layout))
        problems.push(`${usersVar}: [${i}.layout] unknown layout "${u.layout}"; the layouts are: ${loaded.registry.names().join(', ')}`);
    });

  const storage = storageSource(env);
  if ((opts.requireUsers ?? true) && storage.kind !== 'embedded' && users.length === 0 && usersJson === undefined && !bearer) {
    problems.push(
      'AUTH_USERS: no users configured; set AUTH_USERS or AUTH_USERS_FILE, or ENTRA_AUDIENCES for bearer tokens (required unless storage is the embedded Azurite)',
    );
  }
  const deliveryTargets = jsonSetting(env, 'DELIVERY_TARGETS', problems, parseDeliveryTargets) ?? [];
  const webhooks = jsonSetting(env, 'WEBHOOKS', problems, parseWebhooks) ?? [];
  // `npm start` with its embedded Azurite delivers somewhere with no setup: a container of the same Azurite.
  if (storage.kind === 'embedded' && env.DELIVERY_EMBEDDED_BLOB && !env.DELIVERY_TARGETS && !env.DELIVERY_TARGETS_FILE)
    deliveryTargets.push(EMBEDDED_BLOB_TARGET);
  if (storage.kind === 'identity')
    for (const t of deliveryTargets)
      if (t.kind === 'blob' && !t.connectionString && !t.accountUrl)
        problems.push(
          `DELIVERY_TARGETS: target "${t.name}": set connectionString or accountUrl (the service's storage has no connection string)`,
        );
  if (problems.length > 0) throw new ConfigError(problems);
  const layouts = (loaded as { registry: LayoutRegistry }).registry;
  for (const t of deliveryTargets)
    if (!layouts.get(t.layout))
      problems.push(`DELIVERY_TARGETS: target "${t.name}": unknown layout "${t.layout}"; the layouts are: ${layouts.names().join(', ')}`);
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...env, storage, poisonQueue: `${env.APPROVALS_QUEUE}-poison`, users, bearer, layouts, deliveryTargets, webhooks };
}

/** A JSON setting given inline (NAME) or as a file (NAME_FILE), parsed; its problems prefixed with the variable. */
function jsonSetting<T>(
  env: Env,
  name: 'DELIVERY_TARGETS' | 'WEBHOOKS',
  problems: string[],
  parse: (text: string) => { ok: true; value: T } | { ok: false; problems: string[] },
): T | undefined {
  const fileVar = `${name}_FILE` as const;
  const file = env[fileVar];
  if (env[name] && file) problems.push(`${name}: set ${name} or ${fileVar}, not both`);
  let text = env[name];
  if (file) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      problems.push(`${fileVar}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
  }
  if (text === undefined) return undefined;
  const r = parse(text);
  if (r.ok) return r.value;
  problems.push(...r.problems.map((p) => `${file ? fileVar : name}: ${p}`));
  return undefined;
}
