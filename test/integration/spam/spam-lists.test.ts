import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterEach, describe, expect, it } from 'vitest';
import { apiGet, startApi, type ApiFixture } from '../../helpers/api-fixture.js';
import type { SqliteSpamRepository } from '../../../src/store/spam-repository.js';

let api: ApiFixture | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', isArray: (name) => name === 'torrent' || name === 'reason', parseTagValue: false });
interface XmlTorrent {
  name: string;
  hash: string;
  count: string;
  firstReported: string;
  lastReported: string;
  reasons?: { reason: Array<{ '#text': string; '@code': string }> };
}
interface XmlList {
  spamList: { '@count': string; torrent?: XmlTorrent[]; nextPage?: string };
}
function parseXml(text: string): XmlList {
  expect(XMLValidator.validate(text)).toBe(true);
  return parser.parse(text) as XmlList;
}

function hashOf(i: number): string {
  return i.toString(16).padStart(40, '0');
}

/** `count` reports by distinct reporters, at epoch second `at`. */
function seed(repo: SqliteSpamRepository, i: number, name: string, count: number, at: number): void {
  for (let r = 0; r < count; r++) {
    repo.report({ infohash: hashOf(i), name, category: 'Movies', reporter: `t|creator:r${r}`, site: 't', creator: `r${r}`, weight: 1, at: at + r });
  }
}

describe('lists', () => {
  it('op=list shows torrents above the threshold, as exact text lines and as XML', async () => {
    api = await startApi({ spam: { listThreshold: 2 } });
    seed(api.spamRepo, 1, 'Below', 2, 1000);
    seed(api.spamRepo, 2, 'Above One', 3, 2000);
    seed(api.spamRepo, 3, 'Above Two', 5, 3000);
    const text = await apiGet(api.url, '/index.php', { op: 'list', Domain: 'mininova' });
    expect(text.status).toBe(200);
    expect(text.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(text.text).toBe(`Above One --- ${hashOf(2)} --- 3\nAbove Two --- ${hashOf(3)} --- 5\n`);
    const xml = await apiGet(api.url, '/index.php', { op: 'list', format: 'xml', Domain: 'mininova' });
    expect(xml.headers.get('content-type')).toBe('application/xml; charset=utf-8');
    const list = parseXml(xml.text).spamList;
    expect(list.nextPage).toBeUndefined();
    expect(list.torrent).toEqual([
      { name: 'Above One', hash: hashOf(2), count: '3', category: 'Movies', firstReported: '2000', lastReported: '2002' },
      { name: 'Above Two', hash: hashOf(3), count: '5', category: 'Movies', firstReported: '3000', lastReported: '3004' },
    ]);
  });

  it('op=listAll pages 12,000 torrents 5,000 at a time: none lost or repeated, nextPage absent on the last page', async () => {
    api = await startApi();
    const N = 12_345;
    api.db.transaction(() => {
      for (let i = 1; i <= N; i++) seed(api!.spamRepo, i, `Torrent ${i}`, 1, 1_700_000_000 + i);
    })();
    const seen = new Set<string>();
    let url: string | undefined = `${api.url}/index.php?op=listAll&format=xml&Domain=btscene`;
    const sizes: number[] = [];
    while (url !== undefined) {
      const res = await fetch(url);
      expect(res.status).toBe(200);
      const list = parseXml(await res.text()).spamList;
      const torrents = list.torrent ?? [];
      sizes.push(torrents.length);
      for (const t of torrents) {
        expect(seen.has(t.hash), `repeated ${t.hash}`).toBe(false);
        seen.add(t.hash);
      }
      url = list.nextPage;
      if (url !== undefined) expect(url).toMatch(new RegExp(`^${api.url}/index\\.php\\?op=listAll&format=xml&Domain=btscene&after=\\d+$`));
    }
    expect(sizes).toEqual([5000, 5000, 2345]);
    expect(seen.size).toBe(N);
    for (let i = 1; i <= N; i++) expect(seen.has(hashOf(i))).toBe(true);

    // Plain text pages the same way, through the Link header.
    let next: string | undefined = `${api.url}/index.php?op=listAll`;
    let lines = 0;
    let pages = 0;
    while (next !== undefined) {
      const res = await fetch(next);
      const body = await res.text();
      lines += body.split('\n').filter(Boolean).length;
      pages++;
      next = /^<(.*)>; rel="next"$/.exec(res.headers.get('link') ?? '')?.[1];
    }
    expect([pages, lines]).toEqual([3, N]);
  });

  it('a page stays whole while reports arrive between pages (keyset paging)', async () => {
    api = await startApi({ spam: { pageSize: 3 } });
    for (let i = 1; i <= 7; i++) seed(api.spamRepo, i, `T${i}`, 1, 100);
    const first = parseXml((await apiGet(api.url, '/index.php', { op: 'listAll', format: 'xml' })).text).spamList;
    // New torrents and new reports on listed ones while the client pages.
    seed(api.spamRepo, 8, 'T8', 1, 200);
    api.spamRepo.report({ infohash: hashOf(1), name: 'T1', category: '', reporter: 'late', site: 't', creator: 'late', weight: 1, at: 300 });
    const names = (first.torrent ?? []).map((t) => t.name);
    let url = first.nextPage;
    while (url !== undefined) {
      const list: XmlList['spamList'] = parseXml(await (await fetch(url)).text()).spamList;
      names.push(...(list.torrent ?? []).map((t) => t.name));
      url = list.nextPage;
    }
    expect(names).toEqual(['T1', 'T2', 'T3', 'T4', 'T5', 'T6', 'T7', 'T8']);
  });

  it('op=listRange takes both edges (Unix epoch seconds) inclusively and pages within a second', async () => {
    api = await startApi({ spam: { pageSize: 2 } });
    // First reported at 999, 1000 (three torrents), 1500, 2000, 2001.
    const at = [999, 1000, 1000, 1000, 1500, 2000, 2001];
    at.forEach((t, i) => seed(api!.spamRepo, i + 1, `R${i + 1}`, 1, t));
    const range = async (from: number, to: number): Promise<string[]> => {
      const names: string[] = [];
      let url: string | undefined = `${api!.url}/index.php?op=listRange&format=xml&From=${from}&To=${to}`;
      while (url !== undefined) {
        const list: XmlList['spamList'] = parseXml(await (await fetch(url)).text()).spamList;
        names.push(...(list.torrent ?? []).map((t) => t.name));
        url = list.nextPage;
      }
      return names;
    };
    expect(await range(1000, 2000)).toEqual(['R2', 'R3', 'R4', 'R5', 'R6']);
    expect(await range(1000, 1000)).toEqual(['R2', 'R3', 'R4']);
    expect(await range(1001, 1999)).toEqual(['R5']);
    expect(await range(2001, 2001)).toEqual(['R7']);
    expect(await range(0, 998)).toEqual([]);
    expect(await range(2002, 99999999999)).toEqual([]);
    const text = await apiGet(api.url, '/index.php', { op: 'listRange', From: 999, To: 999 });
    expect(text.text).toBe(`R1 --- ${hashOf(1)} --- 1\n`);
    expect((await apiGet(api.url, '/index.php', { op: 'listRange', From: 5, To: 4 })).status).toBe(400);
    expect((await apiGet(api.url, '/index.php', { op: 'listRange', From: '1.5', To: 4 })).status).toBe(400);
    expect((await apiGet(api.url, '/index.php', { op: 'listRange', From: 1 })).status).toBe(400);
  });

  it('op=check finds one torrent by name (case-insensitive) or by hash, as text or XML', async () => {
    api = await startApi();
    seed(api.spamRepo, 1, 'Ärger im Paradies 720p', 4, 1000);
    seed(api.spamRepo, 2, 'Other', 1, 1000);
    const line = `Ärger im Paradies 720p --- ${hashOf(1)} --- 4\n`;
    expect((await apiGet(api.url, '/index.php', { op: 'check', Torrent: 'ärger IM paradies 720P' })).text).toBe(line);
    expect((await apiGet(api.url, '/index.php', { op: 'check', Hash: hashOf(1).toUpperCase() })).text).toBe(line);
    const xml = parseXml((await apiGet(api.url, '/index.php', { op: 'check', format: 'xml', Hash: hashOf(2) })).text).spamList;
    expect(xml.torrent?.map((t) => [t.name, t.count])).toEqual([['Other', '1']]);
    // Not reported: an empty text body, an XML list without torrents.
    expect((await apiGet(api.url, '/index.php', { op: 'check', Torrent: 'Ärger' })).text).toBe('');
    const none = parseXml((await apiGet(api.url, '/index.php', { op: 'check', format: 'xml', Hash: hashOf(9) })).text).spamList;
    expect([none['@count'], none.torrent]).toEqual(['0', undefined]);
    expect((await apiGet(api.url, '/index.php', { op: 'check', Hash: 'nothex' })).status).toBe(400);
    expect((await apiGet(api.url, '/index.php', { op: 'check' })).status).toBe(400);
  });

  it('lists need a key with spamList when publicLists is off', async () => {
    api = await startApi({ spam: { publicLists: false }, apiKeys: [{ name: 'site', key: 'site-key-0123456789abc', methods: ['spamList'] }] });
    expect((await apiGet(api.url, '/index.php', { op: 'list' })).status).toBe(401);
    expect((await apiGet(api.url, '/index.php', { op: 'list', key: 'site-key-0123456789abc' })).status).toBe(200);
  });

  it('nextPage never holds the API key: the caller adds its own to the next request', async () => {
    const KEY = 'site-key-0123456789abc';
    api = await startApi({ spam: { publicLists: false, pageSize: 2 }, apiKeys: [{ name: 'site', key: KEY, methods: ['spamList'] }] });
    for (let i = 1; i <= 5; i++) seed(api.spamRepo, i, `T${i}`, 1, 1000 + i);
    // XML, listAll and listRange; the key given as a query parameter and as a POST form field.
    for (const params of [{ op: 'listAll', format: 'xml', Domain: 'site' }, { op: 'listRange', format: 'xml', From: '0', To: '9999' }]) {
      const first = await apiGet(api.url, '/index.php', { ...params, key: KEY });
      expect(first.status).toBe(200);
      expect(first.text).not.toContain(KEY);
      const next = parseXml(first.text).spamList.nextPage as string;
      expect(next).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/index\.php\?op=list(All|Range)&format=xml&/);
      expect(new URL(next).searchParams.has('key')).toBe(false);
      // As it is, the URL is refused (the key is the caller's to add) ...
      expect((await fetch(next)).status).toBe(401);
      // ... and with the caller's key it is the next page.
      const second = await fetch(`${next}&key=${KEY}`);
      expect(second.status).toBe(200);
      expect(parseXml(await second.text()).spamList.torrent?.map((t) => t.name)).toEqual(['T3', 'T4']);
    }
    const posted = await fetch(`${api.url}/index.php`, { method: 'POST', body: new URLSearchParams({ op: 'listAll', format: 'xml', key: KEY }) });
    const postedText = await posted.text();
    expect(posted.status).toBe(200);
    expect(postedText).toContain('<nextPage>');
    expect(postedText).not.toContain(KEY);
    // Text pages: the Link header, without the key too.
    const text = await apiGet(api.url, '/index.php', { op: 'listAll', key: KEY });
    const link = text.headers.get('link') ?? '';
    expect(link).toMatch(/^<http:\/\/127\.0\.0\.1:\d+\/index\.php\?op=listAll&format=text&after=\d+>; rel="next"$/);
    expect(link).not.toContain(KEY);
  });
});
