import { defineConfig } from 'vitest/config';

// CI asks for a JSON summary too (TEST_REPORT_FILE); locally only the readable report
const reportFile = process.env.TEST_REPORT_FILE;

export default defineConfig({
  test: {
    include: ['e2e/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: reportFile ? ['default', ['json', { outputFile: reportFile }]] : ['default'],
  },
});
