import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../../..');

/** The project's lint config applied to a snippet, as if it were a file of src/. */
async function restricted(code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: ROOT });
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, 'src/util/log-example.ts') });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-syntax').map((m) => m.message);
}

describe('log messages are constant (values go in fields): the lint rule', () => {
  it('refuses a template with values or a concatenation as the message, in either argument', async () => {
    const decl = 'declare const log: { info(a: unknown, b?: string): void; warn(a: unknown, b?: string): void; error(a: unknown, b?: string): void };\ndeclare const n: number;\n';
    expect(await restricted(`${decl}log.info({ n }, \`removed \${n} files\`);\n`)).toHaveLength(1);
    expect(await restricted(`${decl}log.warn(\`\${n} notifications are parked\`);\n`)).toHaveLength(1);
    expect(await restricted(`${decl}log.error({ n }, 'failing: ' + n);\n`)).toHaveLength(1);
  });

  it('accepts constant messages, plain templates and other callees', async () => {
    const decl = 'declare const log: { info(a: unknown, b?: string): void };\ndeclare const n: number;\n';
    expect(await restricted(`${decl}log.info({ n, dir: \`/tmp/\${n}\` }, 'removed leftover files');\n`)).toEqual([]);
    expect(await restricted(`${decl}log.info({ n }, \`a constant template\`);\n`)).toEqual([]);
    expect(await restricted(`${decl}console.info(\`CLI output \${n}\`);\n`)).toEqual([]);
  });
});
