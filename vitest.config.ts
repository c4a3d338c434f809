import { defineConfig } from 'vitest/config';

// unit: pure logic, fast, any user. priv: real binaries in real network
// namespaces, root only (they skip themselves otherwise).
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'priv',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
