import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/temp-dir.js';

/** The daemon as an operator runs it (process, config file, SQLite file) and `capture-daemon spam …`. */

const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const CLI = [process.execPath, '--import', TSX, path.resolve('src/cli/run.ts')];
const SEED_HASH = '40fc37113954486db58449f00ccfa1ae40739e93';
const SEED_LINK =
  'index.php?op=createItem&Torrent=[Eclipse] Claymore - 17 (XviD) [40AFE84B].avi&Category=Anime&Hash=40fc37113954486db58449f00ccfa1ae40739e93&Creator=Anonymous&Submit=1';

let dir: string;
let cleanup: () => void;
let config: string;
let daemon: ChildProcess | undefined;

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(CLI[0] as string, [...CLI.slice(1), ...args, '--config', config], { cwd: dir });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function startDaemon(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(CLI[0] as string, [...CLI.slice(1), 'start', '--config', config], { cwd: dir });
    daemon = child;
    const logs: string[] = [];
    const timer = setTimeout(() => reject(new Error(`daemon not ready:\n${logs.join('\n')}`)), 20_000);
    child.stderr.on('data', (c: Buffer) => logs.push(c.toString()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      logs.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; api?: string };
        if (entry.msg === 'ready' && entry.api) {
          clearTimeout(timer);
          resolve(entry.api);
        }
      } catch {
        // not JSON
      }
    });
  });
}

beforeAll(() => {
  ({ dir, cleanup } = tempDir('cd-spam-cli-'));
  config = path.join(dir, 'config.yaml');
  writeFileSync(
    config,
    `dataDir: ${dir}
log: { level: info }
http:
  listen: { host: 127.0.0.1, port: 0 }
dht: { enabled: false }
geoip: { countryDb: null }
spam: { openReports: true, listThreshold: 1 }
`,
  );
});

afterAll(() => {
  daemon?.kill('SIGKILL');
  cleanup();
});

describe('the spam list in the daemon process and its CLI', () => {
  it('takes the seed\'s report link, then the operator reports, shows, lists and removes (audit trail kept)', async () => {
    const api = await startDaemon();
    const res = await fetch(`${api}/${SEED_LINK}`);
    expect(await res.text()).toMatch(/^counted: .* --- 1\n$/);

    const reported = await cli(['spam', 'report', SEED_HASH, '--creator', 'operator', '--name', 'ignored when named']);
    expect(reported.stdout).toBe(`counted: [Eclipse] Claymore - 17 (XviD) [40AFE84B].avi --- ${SEED_HASH} --- 2\n`);
    expect((await cli(['spam', 'report', SEED_HASH, '--creator', 'OPERATOR'])).stdout).toMatch(/^already counted: /);

    const list = await cli(['spam', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(`${SEED_HASH}  count 2`);
    const shown = await cli(['spam', 'show', '[eclipse] claymore - 17 (xvid) [40afe84b].avi']);
    expect(shown.stdout).toContain('open|ip:127.0.0.1');
    expect(shown.stdout).toContain('cli|creator:operator');

    expect((await cli(['spam', 'remove', SEED_HASH])).code).not.toBe(0); // --reason is required
    const removed = await cli(['spam', 'remove', SEED_HASH, '--reason', 'a real release after all', '--by', 'ops']);
    expect(removed.stdout).toBe(`removed ${SEED_HASH} (count 2, 2 reports kept in the audit trail)\n`);
    expect((await cli(['spam', 'list', '--all'])).stdout).toBe('no torrents listed\n');
    expect(await (await fetch(`${api}/index.php?op=check&Hash=${SEED_HASH}`)).text()).toBe('');
    const audit = await cli(['spam', 'show', SEED_HASH, '--json']);
    const [entry] = JSON.parse(audit.stdout) as Array<{ entry?: unknown; removals: Array<{ removedBy: string; reason: string; count: number; reports: unknown[] }> }>;
    expect(entry?.entry).toBeUndefined();
    expect(entry?.removals).toMatchObject([{ removedBy: 'ops', reason: 'a real release after all', count: 2 }]);
    expect(entry?.removals[0]?.reports).toHaveLength(2);
    expect((await cli(['spam', 'show', SEED_HASH])).stdout).toContain('removed ');
    expect((await cli(['spam', 'remove', SEED_HASH, '--reason', 'again'])).code).toBe(1);
  }, 60_000);
});
