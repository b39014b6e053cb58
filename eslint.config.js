// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'bench/results/**', 'charts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: "MemberExpression[object.name='process'][property.name='env']", message: 'Only src/cli and the lab read process.env (STYLE.md habit 8).' },
      ],
    },
  },
  {
    files: ['src/cli/**', 'test/**', 'bench/**', 'scripts/**', '*.ts', '*.js'],
    rules: { 'no-restricted-syntax': 'off' },
  },
);
