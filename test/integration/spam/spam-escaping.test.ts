import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeTextName, unescapeTextName } from '../../../src/spam/spam-format.js';
import { apiGet, apiPostForm, startApi, type ApiFixture } from '../../helpers/api-fixture.js';

const parser = new XMLParser({ ignoreAttributes: false, isArray: (n) => n === 'torrent', parseTagValue: false, trimValues: false, processEntities: true, htmlEntities: true });

/** Each name, and what XML 1.0 can carry of it (characters it cannot carry become U+FFFD). */
const CASES: Array<[what: string, name: string, xmlName?: string]> = [
  ['the separator "---"', 'Fake --- 0123456789abcdef0123456789abcdef01234567 --- 999'],
  ['long hyphen runs', 'a----b------c-'],
  ['"<" and ">"', '<script>alert(1)</script> <b>'],
  ['"&" and entities', 'Tom & Jerry &amp; &lt; &#x41; ]]>'],
  ['quotes', `"double" 'single' \`back\``],
  ['newlines', 'line one\nline two\r\nline three\u2028four\u2029five'],
  ['control characters', 'nul\u0000bell\u0007esc\u001bdel\u007fc1\u0085tab\t', 'nul\ufffdbell\ufffdesc\ufffddel\u007fc1\u0085tab\t'],
  ['non-ASCII text', 'Фильм 2024 · 映画 · فيلم · 🎬 · Ärger'],
  ['backslashes', 'C:\\path\\n not a newline \\x41'],
];

let api: ApiFixture;
const hashOf = (i: number): string => (i + 1).toString(16).padStart(40, 'e');

beforeAll(async () => {
  api = await startApi({ spam: { openReports: true, listThreshold: 0 } });
  for (const [i, [, name]] of CASES.entries()) {
    const res = await apiPostForm(api.url, '/index.php', { op: 'createItem', Torrent: name, Hash: hashOf(i), Creator: 'x' });
    expect(res.status).toBe(200);
  }
});
afterAll(async () => api.close());

describe('names that could break a format break neither', () => {
  it.each(CASES.map((c, i) => [c[0], i] as const))('%s', async (_what, i) => {
    const [, name, xmlName = name] = CASES[i] as (typeof CASES)[number];
    // Text: one line, exactly three fields; the name comes back by unescaping.
    for (const params of [{ op: 'check', Hash: hashOf(i) }, { op: 'check', Torrent: name }]) {
      const text = (await apiGet(api.url, '/index.php', params)).text;
      expect(text.endsWith('\n')).toBe(true);
      const line = text.slice(0, -1);
      expect(line).not.toMatch(/[\n\r\u2028\u2029]/);
      const fields = line.split(' --- ');
      expect(fields).toHaveLength(3);
      expect(unescapeTextName(fields[0] as string)).toBe(name);
      expect(fields.slice(1)).toEqual([hashOf(i), '1']);
    }
    // XML: valid, and the name as XML can carry it.
    const xml = (await apiGet(api.url, '/index.php', { op: 'check', format: 'xml', Hash: hashOf(i) })).text;
    expect(XMLValidator.validate(xml)).toBe(true);
    const t = (parser.parse(xml) as { spamList: { torrent: Array<{ name: string; hash: string }> } }).spamList.torrent;
    expect(t).toHaveLength(1);
    expect(t[0]?.name).toBe(xmlName);
    expect(t[0]?.hash).toBe(hashOf(i));
  });

  it('whole lists stay one line per torrent and valid XML', async () => {
    const text = (await apiGet(api.url, '/index.php', { op: 'list' })).text;
    const lines = text.split('\n').slice(0, -1);
    expect(lines).toHaveLength(CASES.length);
    for (const l of lines) expect(l.split(' --- ')).toHaveLength(3);
    const xml = (await apiGet(api.url, '/index.php', { op: 'listAll', format: 'xml' })).text;
    expect(XMLValidator.validate(xml)).toBe(true);
    expect((parser.parse(xml) as { spamList: { torrent: unknown[] } }).spamList.torrent).toHaveLength(CASES.length);
  });

  it('escapeTextName never leaves three hyphens in a row, and unescape reverses it', () => {
    for (let n = 0; n < 12; n++) {
      const s = `${'-'.repeat(n)}x${'-'.repeat(n)}\\`;
      expect(escapeTextName(s)).not.toContain('---');
      expect(unescapeTextName(escapeTextName(s))).toBe(s);
    }
  });
});
