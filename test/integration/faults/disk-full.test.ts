import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inMountNamespace, mountNamespaceUnavailable } from '../../helpers/mount-namespace.js';
import { tempDir } from '../../helpers/temp-dir.js';

const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const CHILD = path.resolve('test/integration/faults/disk-full-child.ts');

describe.skipIf(mountNamespaceUnavailable !== undefined)(
  `disk full while running (a 2 MiB tmpfs in a mount namespace)${mountNamespaceUnavailable ? ` (skipped: ${mountNamespaceUnavailable})` : ''}`,
  () => {
    let dir: string;
    let cleanup: () => void;
    beforeAll(() => {
      ({ dir, cleanup } = tempDir('disk-full-'));
    });
    afterAll(() => cleanup());

    it('captures and pcaps back off, log once per state change, intake pauses; nothing lost when space returns', { timeout: 60_000 }, async () => {
      const mnt = path.join(dir, 'mnt');
      const argv = inMountNamespace([{ dir: mnt, sizeKb: 2048 }], [process.execPath, '--import', TSX, CHILD, mnt]);
      const child = spawn(argv[0] as string, argv.slice(1));
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const code = await new Promise<number | null>((r) => child.on('close', r));
      expect(code, err).toBe(0);
      const r = JSON.parse(out.trim().split('\n').at(-1) as string) as {
        added: number; stored: number; integrity: string; pcapFailed: number;
        during: { writer: Record<string, unknown>; sinkCalls: number; pcap: Record<string, unknown>; accepting: boolean };
        after: { writer: Record<string, unknown>; pcap: Record<string, unknown>; pcapOk: number; accepting: boolean };
        lines: Array<{ level: string; msg: string; store?: string }>;
      };
      // While full: a handful of failed transactions (250 ms, 500 ms, 1 s, 1 s…), not one per capture.
      expect(r.during.writer).toMatchObject({ state: 'failing' });
      expect(String(r.during.writer.lastError)).toMatch(/^disk full/);
      expect(r.during.sinkCalls).toBeLessThanOrEqual(8);
      expect(r.during.accepting).toBe(false);
      expect(r.during.pcap).toMatchObject({ state: 'failing' });
      expect(String(r.during.pcap.lastError)).toMatch(/^disk full/);
      expect(Number(r.during.pcap.skipped)).toBeGreaterThan(Number(r.during.pcap.failures));
      // Space back: both recover by themselves, everything waiting is written.
      expect(r.after.writer).toMatchObject({ state: 'ok', pending: 0, refused: 0 });
      expect(r.after.pcap).toMatchObject({ state: 'ok' });
      expect(r.after.pcapOk).toBeGreaterThan(0);
      expect(r.after.accepting).toBe(true);
      expect(r.stored).toBe(r.added);
      expect(r.integrity).toBe('ok');
      // One line when each starts failing, one when each recovers.
      // Constant messages, the failing store in a field.
      expect(r.lines.filter((l) => l.level === 'error').map((l) => [l.msg, l.store])).toEqual(
        expect.arrayContaining([['writes failing: retrying with backoff', 'capture store'], ['writes failing: retrying with backoff', expect.stringMatching(/^pcap writer/)]]),
      );
      expect(r.lines.filter((l) => l.level === 'error')).toHaveLength(2);
      expect(r.lines.filter((l) => l.level === 'warn' && l.msg === 'writes recovered')).toHaveLength(2);
    });
  },
);
