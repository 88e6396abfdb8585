// Typed lint: the daemon is full of async kernel work, so floating promises and
// non-exhaustive switches over the operation union are errors. The import rules keep
// the layers pointing down (docs/architecture.md).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layer = (files, forbidden) => ({
  files,
  rules: {
    'no-restricted-imports': ['error', { patterns: forbidden.map((dir) => ({ group: [`**/${dir}/*`], message: `this layer must not import from ${dir}/ (imports point down the layers)` })) }],
  },
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // Tests read Docker-shaped JSON loosely on purpose; the assertions are the types.
    files: ['test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // node:test's test()/describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it'] }] }],
    },
  },
  layer(['src/common/**'], ['kernel', 'store', 'ipam', 'drivers', 'firewall', 'engine', 'api', 'cli', 'daemon']),
  layer(['src/kernel/**', 'src/store/**'], ['ipam', 'drivers', 'firewall', 'engine', 'api', 'cli', 'daemon']),
  layer(['src/ipam/**', 'src/drivers/**', 'src/firewall/**'], ['engine', 'api', 'cli', 'daemon']),
  layer(['src/engine/**'], ['api', 'cli', 'daemon']),
  layer(['src/api/**'], ['cli', 'daemon']),
  layer(['src/daemon/**'], ['cli']),
);
