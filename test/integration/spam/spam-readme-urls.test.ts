import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { XMLValidator } from 'fast-xml-parser';
import { afterEach, describe, expect, it } from 'vitest';
import { xmlList } from '../../../src/spam/spam-format.js';
import { SPAM_OPS } from '../../../src/spam/spam-routes.js';
import { startApi, type ApiFixture } from '../../helpers/api-fixture.js';

/**
 * The README's "Spam list" section: every URL it shows is run against the real server and answers
 * as the README says; every op has an example; the XML example is what the daemon writes.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const SECTION = (() => {
  const start = README.indexOf('\n## Spam list\n');
  const end = README.indexOf('\n## ', start + 5);
  return README.slice(start, end);
})();
const KEY = 'readme-site-key-0123456789';

interface Example {
  method: 'GET' | 'POST';
  url: string;
  body?: string;
  /** The README's "→ `…`" answer after the example, when it gives one. */
  answer?: string;
}

/** Every runnable example, in README order (ones abbreviated with "…" are not runnable, but `key=…`). */
function examples(): Example[] {
  const out: Array<Example & { at: number }> = [];
  for (const m of SECTION.matchAll(/`GET (\/index\.php\?[^`]+)`(?: → `([^`]+)`)?/g)) out.push({ method: 'GET', url: m[1] as string, ...(m[2] ? { answer: m[2] } : {}), at: m.index });
  for (const m of SECTION.matchAll(/`curl --data '([^']+)' http:\/\/127\.0\.0\.1:8080(\/index\.php)`/g)) out.push({ method: 'POST', url: m[2] as string, body: m[1] as string, at: m.index });
  for (const m of SECTION.matchAll(/<img src="http:\/\/127\.0\.0\.1:8080(\/index\.php\?[^"]+)">/g)) out.push({ method: 'GET', url: (m[1] as string).replace('<TorrentName>', 'Film'), at: m.index });
  return out
    .sort((a, b) => a.at - b.at)
    .map(({ at: _at, ...e }) => ({ ...e, url: e.url.replaceAll('key=…', `key=${KEY}`), ...(e.body ? { body: e.body.replaceAll('key=…', `key=${KEY}`) } : {}) }))
    .filter((e) => !`${e.url}${e.body ?? ''}`.includes('…'));
}

let api: ApiFixture | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function run(base: string, e: Example): Promise<{ status: number; type: string; text: string }> {
  const res =
    e.method === 'GET'
      ? await fetch(new URL(e.url, base))
      : await fetch(new URL(e.url, base), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: e.body ?? '' });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

describe('README, "Spam list"', () => {
  it('every URL shown answers as the README says, and every op has one', async () => {
    const all = examples();
    expect(all.length).toBeGreaterThanOrEqual(11);
    const ops = new Set(all.map((e) => new URLSearchParams(e.method === 'GET' ? e.url.split('?')[1] : e.body).get('op')));
    expect([...ops].sort()).toEqual([...SPAM_OPS].sort());

    api = await startApi({ spam: { openReports: true }, apiKeys: [{ name: 'site', key: KEY, methods: ['spamList', 'spamReport'] }] });
    const open = all.filter((e) => !e.url.includes('key='));
    for (const e of open) {
      const r = await run(api.url, e);
      const what = `${e.method} ${e.url} ${e.body ?? ''}`;
      expect(r.status, `${what}: ${r.text}`).toBe(200);
      const params = new URLSearchParams(e.method === 'GET' ? e.url.split('?')[1] : e.body);
      if (params.get('op') === 'badge') expect(r.type, what).toBe('image/svg+xml; charset=utf-8');
      else if (params.get('format') === 'xml') {
        expect(r.type, what).toBe('application/xml; charset=utf-8');
        expect(XMLValidator.validate(r.text), what).toBe(true);
      } else {
        expect(r.type, what).toBe('text/plain; charset=utf-8');
        for (const line of r.text.split('\n').filter(Boolean)) expect(line, what).toMatch(/^(?:counted: )?.+ --- [0-9a-f]{40} --- \d+$/);
      }
      if (e.answer !== undefined) expect(r.text, what).toBe(`${e.answer}\n`);
    }
    // The report link of the seed was counted, so the name check finds it (case-insensitive).
    const byName = await run(api.url, { method: 'GET', url: '/index.php?op=check&Torrent=[eclipse] claymore - 17 (xvid) [40afe84b].avi' });
    expect(byName.text).toBe('[Eclipse] Claymore - 17 (XviD) [40AFE84B].avi --- 40fc37113954486db58449f00ccfa1ae40739e93 --- 1\n');
  });

  it('the example with a key works when lists need one, and fails without it', async () => {
    const keyed = examples().filter((e) => e.url.includes(`key=${KEY}`));
    expect(keyed.length).toBeGreaterThanOrEqual(1);
    api = await startApi({ spam: { publicLists: false }, apiKeys: [{ name: 'site', key: KEY, methods: ['spamList'] }] });
    for (const e of keyed) {
      expect((await run(api.url, e)).status).toBe(200);
      expect((await run(api.url, { ...e, url: e.url.replace(`&key=${KEY}`, '') })).status).toBe(401);
    }
  });

  it('the XML example is what the daemon writes for that torrent', () => {
    const block = /```xml\n([\s\S]*?)```/.exec(SECTION)?.[1] ?? '';
    expect(XMLValidator.validate(block)).toBe(true);
    expect(
      xmlList([
        {
          id: 1,
          name: 'Film.2024.1080p.avi',
          infohash: '40fc37113954486db58449f00ccfa1ae40739e93',
          category: 'Movies',
          count: 12,
          firstReported: 1733011200,
          lastReported: 1733050000,
          reasons: [{ code: 'disguised-executable', at: 1733011200, detail: 'file "Film.2024.1080p.avi.exe" is an executable with a double extension (.avi.exe)' }],
        },
      ]),
    ).toBe(block);
    const next = /`(<nextPage>[^`]+<\/nextPage>)`/.exec(SECTION)?.[1] ?? '';
    expect(XMLValidator.validate(next)).toBe(true);
    expect(next).toContain('after=5000');
  });
});
