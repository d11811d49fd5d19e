// Type-checking is `tsc --noEmit` in `npm test`; here we only transpile, which keeps runs fast.
const transform = { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] };

/** @type {import('jest').Config} */
module.exports = {
  maxWorkers: 2,
  // Global: jest ignores testTimeout inside a project. Unit tests finish in milliseconds anyway.
  testTimeout: 30000,
  projects: [
    {
      // Pure logic and the consumer loop behind its narrow queue interface: no storage, no Azurite
      // (`npx jest --selectProjects unit` runs them alone in seconds).
      displayName: 'unit',
      testEnvironment: 'node',
      roots: ['<rootDir>/test/unit'],
      testMatch: ['**/*.test.ts'],
      transform,
    },
    {
      // Everything that touches storage, against a real Azurite that the run starts itself.
      displayName: 'integration',
      testEnvironment: 'node',
      roots: ['<rootDir>/test/integration'],
      testMatch: ['**/*.test.ts'],
      transform,
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
