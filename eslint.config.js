import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'test-output/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    // The sandbox page's script runs in the browser, as it is (no build step).
    files: ['sandbox/page/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(['document', 'window', 'localStorage', 'location', 'history', 'fetch', 'EventSource', 'Option'].map((name) => [name, 'readonly'])),
    },
  },
  {
    files: ['bench/**', 'scripts/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // Tests may print the figures they measure.
    files: ['test/**'],
    rules: { 'no-console': ['error', { allow: ['info'] }] },
  },
);
