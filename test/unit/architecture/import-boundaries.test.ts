import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../../../src');

/** Every .ts file under src/, as a path relative to src/ with forward slashes. */
function sourceFiles(dir = SRC): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(path.relative(SRC, p).split(path.sep).join('/'));
  }
  return out.sort();
}

/** The src/-relative targets of a file's relative imports (static and dynamic, type-only included). */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(SRC, file), 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.[^']+)'/g)].map((m) => m[1] as string);
  return specs.map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s)));
}

const files = sourceFiles();
const folder = (f: string): string => (f.includes('/') ? (f.split('/')[0] as string) : f);

describe('import boundaries of src/', () => {
  it('finds the sources and their imports', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(importsOf('main.ts').some((i) => i.startsWith('http/'))).toBe(true);
    expect(importsOf('roles/node-role.ts').some((i) => i.startsWith('http/'))).toBe(true);
  });

  it('only the composition root (main.ts and roles/) imports http/: no domain reaches into the HTTP layer', () => {
    const offenders = files
      .filter((f) => folder(f) !== 'http' && f !== 'main.ts' && folder(f) !== 'roles')
      .flatMap((f) => importsOf(f).filter((i) => i.startsWith('http/')).map((i) => `${f} -> ${i}`));
    expect(offenders).toEqual([]);
  });

  it('only http/ knows HTTP statuses: no error class with a status, no error built with one, outside http/', () => {
    const offenders = files
      .filter((f) => folder(f) !== 'http')
      .filter((f) => /\bApiError\b|new \w*Error\(\s*[1-5]\d\d\s*,/.test(readFileSync(path.join(SRC, f), 'utf8')));
    expect(offenders).toEqual([]);
  });

  it('the Capture API wire shape lives in api-shape/, used by both http/ and notify/', () => {
    // peer-json.ts: the peer object (notifications); peer-page-json.ts: the peers page written as bytes (the API).
    const shape = ['api-shape/peer-json.js', 'api-shape/peer-page-json.js'];
    const users = files.filter((f) => folder(f) !== 'api-shape' && importsOf(f).some((i) => shape.includes(i))).map(folder);
    expect(new Set(users)).toEqual(new Set(['http', 'notify']));
  });
});

describe('the composition root', () => {
  it('roles/ is imported only by main.ts and roles/ itself', () => {
    const offenders = files
      .filter((f) => f !== 'main.ts' && folder(f) !== 'roles')
      .flatMap((f) => importsOf(f).filter((i) => i.startsWith('roles/')).map((i) => `${f} -> ${i}`));
    expect(offenders).toEqual([]);
  });
});
