// Boundaries that hold without review: which code may start processes or touch
// the kernel's files, which app may import which, and no `any` in the product.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const noSpawn = {
  name: 'node:child_process',
  message: 'processes start only in src/sys/exec.ts through src/platform (or in scripts and tests)',
};
const kernelFiles = {
  selector: "Literal[value=/^\\/(proc|sys)\\//], TemplateElement[value.raw=/^\\/(proc|sys)\\//]",
  message: '/proc and /sys belong to src/sys (and src/platform): add a narrow function there',
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: { '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }] },
  },
  {
    // Product code: no `any`, short functions, side effects only where they belong.
    files: ['plugin/**/*.ts', 'ipam/**/*.ts', 'src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true }],
      'no-restricted-imports': ['error', { paths: [noSpawn, { name: 'execa', message: noSpawn.message }, { name: 'zx', message: 'zx belongs to scripts and tests' }] }],
      'no-restricted-syntax': ['error', kernelFiles],
    },
  },
  {
    // The CNI binaries never carry the command line or the agent.
    files: ['plugin/**/*.ts', 'ipam/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [noSpawn, { name: 'yargs', message: 'the CNI binaries take env and stdin only' }],
          patterns: [{ group: ['**/src/cli/**', '**/src/agent/**'], message: 'plugin/ and ipam/ never import the CLI or the agent' }],
        },
      ],
    },
  },
  {
    // Shared code depends on neither app.
    files: ['src/cni/**/*.ts', 'src/net/**/*.ts', 'src/sys/**/*.ts', 'src/platform/**/*.ts', 'src/contract/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [noSpawn],
          patterns: [{ group: ['**/plugin/**', '**/ipam/**', '**/src/cli/**', '**/src/agent/**', '../cli/**', '../agent/**'], message: 'shared code (src/cni, net, sys, platform, contract) imports no app' }],
        },
      ],
    },
  },
  {
    // The one place that starts processes, and the platforms it runs on.
    files: ['src/sys/**/*.ts', 'src/platform/**/*.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['src/platform/node/**/*.ts', 'src/sys/ip-monitor.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    // Tests and scripts drive real processes and namespaces; `any` stays out of the product only.
    files: ['test/**/*.ts', 'scripts/**/*.mjs'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: globals.node },
  },
  {
    // Scripts are read and changed like the product: small named functions.
    files: ['scripts/**/*.mjs'],
    rules: { 'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true }] },
  },
);
