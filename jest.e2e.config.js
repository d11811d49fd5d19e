/**
 * Browser tests (`npm run test:e2e`): headless Chromium from the system
 * (/usr/bin/chromium, `apt-get install chromium`), never downloaded. Kept out
 * of `npm test`, which needs no browser.
 */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/e2e'],
  testMatch: ['**/*.e2e.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  maxWorkers: 1,
  testTimeout: 120000,
};
