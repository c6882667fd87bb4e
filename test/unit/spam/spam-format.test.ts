import { describe, expect, it } from 'vitest';
import type { SpamEntry } from '../../../src/spam/ports.js';
import { encodeChunks, textChunks, textList, xmlChunks, xmlList, xmlSafe, xmlText } from '../../../src/spam/spam-format.js';

const entry = (i: number, name: string): SpamEntry => ({
  id: i,
  name,
  infohash: i.toString(16).padStart(40, '0'),
  category: i % 3 === 0 ? '' : 'Movies & TV',
  count: i,
  firstReported: 1_700_000_000 + i,
  lastReported: 1_700_000_100 + i,
  reasons: i % 5 === 0 ? [{ code: 'no-seeder', detail: `"${i}" peers <none> seeding`, at: 1_700_000_200 }] : [],
});

/** The escaping without the fast path: what xmlText must always equal. */
const slowXmlText = (t: string): string =>
  xmlSafe(t).replace(/[&<>"'\r]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\r': '&#13;' })[c] as string);

describe('spam list formats', () => {
  it('xmlText equals the full escaping for every character class (the fast path skips nothing)', () => {
    const samples = ['plain name 1080p', '', 'Ärger 映画 🎬', 'a\ud800b', 'x\udc00', '\ud83c\udfac ok', '\ufffe\uffff', 'tab\tlf\ncr\r'];
    for (let c = 0; c < 0x80; c++) samples.push(`a${String.fromCharCode(c)}b`);
    for (const s of samples) expect(xmlText(s), JSON.stringify(s)).toBe(slowXmlText(s));
    expect(xmlText('Tom & "Jerry" <x> \'y\'')).toBe('Tom &amp; &quot;Jerry&quot; &lt;x&gt; &apos;y&apos;');
    expect(xmlText('bell\u0007')).toBe('bell\ufffd');
  });

  it('a page written in chunks is the same document as written whole, each chunk about chunkChars long', () => {
    const names = ['Plain', 'Tom & Jerry', 'Фильм 映画', 'line\nbreak', 'a---b', ''];
    const entries = Array.from({ length: 500 }, (_, i) => entry(i + 1, `${names[i % names.length]} ${i}`));
    const next = 'http://h/index.php?op=listAll&format=xml&after=500';
    const chunks = [...xmlChunks(entries, next, 4096)];
    expect(chunks.length).toBeGreaterThan(10);
    for (const c of chunks.slice(0, -1)) expect(c.length).toBeGreaterThanOrEqual(4096);
    const whole = chunks.join('');
    expect(whole.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<spamList count="500">\n')).toBe(true);
    expect(whole.endsWith(`  <nextPage>${xmlText(next)}</nextPage>\n</spamList>\n`)).toBe(true);
    expect(whole.split('<torrent>').length - 1).toBe(500);
    expect(xmlList(entries, next)).toBe(whole);
    expect(encodeChunks(xmlChunks(entries, next, 4096)).toString('utf8')).toBe(whole);

    const text = [...textChunks(entries, 1024)];
    expect(text.length).toBeGreaterThan(10);
    expect(text.join('').split('\n').length - 1).toBe(500);
    expect(textList(entries)).toBe(text.join(''));
    expect(encodeChunks(textChunks(entries, 1024)).equals(Buffer.from(text.join(''), 'utf8'))).toBe(true);
    // An empty page is still a whole document.
    expect(encodeChunks(xmlChunks([])).toString()).toBe('<?xml version="1.0" encoding="UTF-8"?>\n<spamList count="0">\n</spamList>\n');
    expect(encodeChunks(textChunks([])).length).toBe(0);
  });
});
