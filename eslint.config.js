// Typed lint: the daemon is full of async kernel work, so floating promises and
// non-exhaustive switches over the operation union are errors. The import rules are the
// whiteboard of docs/architecture.md, enforced: each layer lists what it may import.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Each layer of src/ and the layers it may import from; anything else is a lint error. */
const MAY_IMPORT = {
  common: [],
  kernel: ['common'],
  store: ['common'],
  ipam: ['common'],
  firewall: ['common', 'kernel'],
  drivers: ['common', 'kernel', 'firewall'],
  dns: ['common', 'kernel'],
  engine: ['common', 'kernel', 'store', 'ipam', 'firewall', 'drivers', 'dns'],
  api: ['common', 'kernel', 'engine'],
  // dockerd's network and IPAM plugin protocol: a sibling of the API, over the same engine.
  plugin: ['common', 'engine'],
  // The topology page's server: a sibling of the API, over the same engine.
  web: ['common', 'engine'],
  // The composition root: it picks and wires the implementations below it.
  daemon: ['common', 'kernel', 'store', 'ipam', 'firewall', 'drivers', 'dns', 'engine', 'api', 'plugin', 'web'],
  // The CLI speaks the API over its socket; what it runs of the daemon's side is handed to it (cli/handover.ts).
  cli: ['common'],
};

const layerRules = Object.entries(MAY_IMPORT).map(([layer, allowed]) => {
  const forbidden = Object.keys(MAY_IMPORT).filter((other) => other !== layer && !allowed.includes(other));
  return {
    files: [`src/${layer}/**`],
    rules: {
      'no-restricted-imports': ['error', { patterns: forbidden.map((dir) => ({ group: [`**/${dir}/*`], message: `src/${layer} must not import from src/${dir} (allowed: ${allowed.join(', ') || 'nothing'}; docs/architecture.md)` })) }],
    },
  };
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
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
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
  {
    // The topology page's script runs in the browser, untyped: the recommended rules only.
    files: ['web/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'script',
      globals: { window: 'readonly', document: 'readonly', fetch: 'readonly', EventSource: 'readonly', URLSearchParams: 'readonly', cytoscape: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly' },
    },
  },
  ...layerRules,
);
