import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../../..');
// semver comes with npm's own dependency tree (better-sqlite3 → prebuild-install → node-abi).
const semver = createRequire(import.meta.url)('semver') as { satisfies(version: string, range: string): boolean };

/** The Node versions the README supports: Debian's Node 20.19+ and the current LTS. */
const SUPPORTED = ['20.19.0', '24.11.0'];

interface LockEntry {
  engines?: { node?: string } | string[];
  optional?: boolean;
}

describe('supported Node versions', () => {
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };

  it.each(SUPPORTED)('package.json engines accepts Node %s', (v) => {
    expect(semver.satisfies(v, pkg.engines.node)).toBe(true);
  });

  it.each(SUPPORTED)('every package npm ci installs accepts Node %s (no EBADENGINE warning)', (v) => {
    const refused = Object.entries(lock.packages)
      .filter(([name, e]) => name !== '' && !e.optional && !Array.isArray(e.engines) && e.engines?.node !== undefined)
      .filter(([, e]) => !semver.satisfies(v, (e.engines as { node: string }).node))
      .map(([name, e]) => `${name} (${(e.engines as { node: string }).node})`);
    expect(refused).toEqual([]);
  });
});
