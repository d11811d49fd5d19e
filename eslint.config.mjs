// ESLint flat config: typescript-eslint's recommended, type-checked rules; Prettier owns formatting.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

/*
 * Layers run one way. Each entry may import from the entries before it (and
 * from its own), never from those after it: a new upward import fails
 * `npm run lint`. The order is today's imports, bottom to top:
 *   foundation   money, background (the task loop), clock, map-limit, project-root, types.d.ts: import nothing of ours
 *   auth         users, passwords, route roles, the guard: raises AuthError, knows no HTTP codes
 *   config       config (which parses the users with auth's schema), faults
 *   storage      the Azure clients, queue adapter, deadlines, storage errors
 *   expenses     the expense, its lifecycle, approval and the approval message, its result history
 *   export       the ExportTable, manifests, day files, acknowledgements
 *   results      importing the payroll/ERP system's results files
 *   consumer     the queue consumer and its handler (writes export rows)
 *   observability metrics (labelled by consumer and results outcomes), logger, queue depth
 *   http         problem+json errors, middleware, the OpenAPI document
 *   services     wiring: builds every client and service from the config
 *   routes       the Express routers (routes/)
 *   app          createApp: the Express app from the routers
 *   entry        server.ts, cli.ts and src/cli/: processes, ports, signals, commands
 * Each layer is named by what its files are imported as: a folder under
 * src/ (`../storage/...`) or a file at src/'s top (`./config`).
 */
const LAYERS = [
  ['foundation', ['money', 'background', 'clock', 'map-limit', 'project-root', 'types']],
  ['auth', ['auth']],
  ['storage', ['storage']],
  ['expenses', ['expenses']],
  ['export', ['export']],
  // Layouts render the export table's snapshots: above export, which knows nothing of them.
  ['layouts', ['layouts']],
  // Delivery and webhooks push a day's file (got through a FileSource, which services.ts makes from layouts) and tell of it.
  ['delivery', ['delivery', 'webhooks']],
  ['results', ['results']],
  ['consumer', ['consumer']],
  ['observability', ['observability']],
  // Config validates everything at start, layouts and users among them, so it sits above what it validates.
  ['config', ['config', 'faults']],
  ['http', ['http']],
  ['services', ['services', 'delivery-wiring']],
  ['routes', ['routes']],
  ['app', ['app']],
  ['entry', ['server', 'cli']],
];

/** The files of a layer: its folders under src/ (or routes/), its files at src/'s top. */
const filesOf = (name) => (name === 'routes' ? ['routes/**/*.ts'] : [`src/${name}/**/*.ts`, `src/${name}.ts`]);

function layerRules() {
  return LAYERS.flatMap(([layer, names], i) => {
    const above = LAYERS.slice(i + 1).flatMap(([, n]) => n);
    if (above.length === 0) return [];
    // routes/ is a folder beside src/, so it gets a pattern of its own.
    const aboveInSrc = above.filter((n) => n !== 'routes').join('|');
    const message = `${layer} is below ${above.join(', ')}: an import from above runs the layers backwards (see LAYERS in eslint.config.mjs)`;
    const rule = (prefix) => ({
      patterns: [
        ...(aboveInSrc ? [{ regex: `^${prefix}(?:${aboveInSrc})(?:/|$)`, message }] : []),
        ...(above.includes('routes') ? [{ regex: '^(?:\\.\\.?/)+routes(?:/|$)', message }] : []),
      ],
    });
    return names.flatMap((name) => {
      const [folder, top] = filesOf(name);
      // A file in a folder under src/ reaches another layer by ../; a file at src/'s top by ./; routes/ by ../src/.
      if (name === 'routes') {
        const routes = rule('(?:\\.\\./)+src/');
        // Below routes by layer, but a router declares the narrow set of dependencies it uses instead of taking them all.
        routes.patterns.push({
          regex: '^(?:\\.\\./)+src/services$',
          message: 'a router declares the dependencies it uses; it does not take Services',
        });
        return [{ files: [folder], rules: { 'no-restricted-imports': ['error', routes] } }];
      }
      return [
        { files: [folder], rules: { 'no-restricted-imports': ['error', rule('(?:\\.\\./)+')] } },
        { files: [top], rules: { 'no-restricted-imports': ['error', rule('\\./')] } },
      ];
    });
  });
}

const nodeGlobals = { require: 'readonly', module: 'writable', process: 'readonly', console: 'readonly', __dirname: 'readonly' };

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.azurite/', 'chaos-work/', 'test/e2e/artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Unused names are compile errors already (noUnusedLocals/Parameters); `_x` marks a deliberate one.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // An async callback without await is how a sync predicate satisfies an async signature (waitFor, policies).
      '@typescript-eslint/require-await': 'off',
    },
  },
  ...layerRules(),
  {
    // The process spawners and invariants that tests, chaos and the bench share live in harness/; tests borrow nothing from chaos/.
    files: ['test/**/*.ts', 'harness/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?:\\.\\./)+(?:chaos|bench)(?:/|$)',
              message: 'tests and harness/ do not import from chaos/ or bench/: shared code goes in harness/',
            },
          ],
        },
      ],
    },
  },
  {
    // supertest and fetch hand tests untyped JSON bodies; asserting on their fields is what a test is for.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },
  {
    // Plain JavaScript (CI scripts, configs): no type information to check against.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, sourceType: 'commonjs', globals: nodeGlobals },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' },
  },
  { files: ['**/*.mjs'], languageOptions: { sourceType: 'module' } },
  prettier,
);
