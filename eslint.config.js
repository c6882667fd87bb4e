import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**', 'bench/.data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // Logs carry values as fields, with a constant message (README, "Operations": logs): a logger
    // call whose message is a template with values or a concatenation is refused.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        ...[0, 1].flatMap((i) => [
          {
            selector: `CallExpression[callee.type='MemberExpression'][callee.object.name!='console'][callee.property.name=/^(fatal|error|warn|info|debug|trace)$/] > TemplateLiteral.arguments:nth-child(${i + 1})[expressions.length>0]`,
            message: 'Log message with values baked in: put the values in the fields object and keep the message constant.',
          },
          {
            selector: `CallExpression[callee.type='MemberExpression'][callee.object.name!='console'][callee.property.name=/^(fatal|error|warn|info|debug|trace)$/] > BinaryExpression.arguments:nth-child(${i + 1})[operator='+']`,
            message: 'Log message built by concatenation: put the values in the fields object and keep the message constant.',
          },
        ]),
      ],
    },
  },
  {
    // The dashboard's page script (web/dashboard/): plain browser JavaScript, no bundler.
    files: ['web/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { window: 'readonly', document: 'readonly', getComputedStyle: 'readonly', fetch: 'readonly', EventSource: 'readonly', console: 'readonly', setInterval: 'readonly' },
    },
  },
);
