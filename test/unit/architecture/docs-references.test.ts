import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const read = (rel: string): string => readFileSync(path.join(ROOT, rel), 'utf8');

const DOCS = ['README.md', 'bench/README.md', 'test/e2e/README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const README_HEADINGS = read('README.md')
  .split('\n')
  .filter((l) => l.startsWith('#'))
  .map((l) => l.replace(/^#+\s*/, '').toLowerCase());

describe('documentation references', () => {
  it.each(DOCS)('%s: every relative link names a file of this repository', (doc) => {
    const text = read(doc);
    const bad: string[] = [];
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = (m[1] as string).split('#')[0] as string;
      if (target === '' || /^[a-z]+:/i.test(target)) continue;
      const abs = path.resolve(ROOT, path.dirname(doc), target);
      if (!abs.startsWith(ROOT + path.sep) || !existsSync(abs)) bad.push(m[1] as string);
    }
    // A path out of the repository (the project's shared spec folder is not shipped with it).
    for (const m of text.matchAll(/`(\.\.\/[^`]+)`/g)) {
      const abs = path.resolve(ROOT, path.dirname(doc), m[1] as string);
      if (!abs.startsWith(ROOT + path.sep) || !existsSync(abs)) bad.push(m[1] as string);
    }
    expect(bad).toEqual([]);
  });

  it.each(['config/capture-daemon.example.yaml', ...DOCS])('%s: every "see the README, X" names a README section', (file) => {
    const text = read(file);
    const missing: string[] = [];
    for (const m of text.matchAll(/README(?:'s|,)?\s+(?:"([^"]+)"|([a-z]+)\b)/gi)) {
      const section = (m[1] ?? m[2] ?? '').toLowerCase().replace(/\s+/g, ' ');
      if (!m[1] && ['shows', 'lists', 'says', 'and', 'for', 'has', 'is', 'in', 'of', 'md', 'explains', 'describes'].includes(section)) continue;
      if (!README_HEADINGS.some((h) => h.includes(section))) missing.push(m[0]);
    }
    expect(missing).toEqual([]);
  });
});
