import { describe, expect, it } from 'vitest';
import { toPeerJson } from '../../../src/api-shape/peer-json.js';
import { csvField, digestMessageId, escapeHtml, renderCsv, renderDigest } from '../../../src/notify/email-render.js';
import { makeCapture } from './notify-fixtures.js';

function peers(n: number) {
  return Array.from({ length: n }, (_, i) => {
    const c = makeCapture(i, []);
    return toPeerJson({ ...c, id: i + 1 });
  });
}

describe('email rendering', () => {
  it('escapes HTML and neutralises control characters', () => {
    expect(escapeHtml(`<script>alert("x")</script> & 'q'`)).toBe('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;q&#39;');
    expect(escapeHtml('a\r\nb\u0007')).toBe('a\ufffd\ufffdb\ufffd');
  });

  it('writes RFC 4180 CSV fields and defuses spreadsheet formulas', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('line\nbreak')).toBe('"line\nbreak"');
    expect(csvField('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    expect(csvField('-1+2')).toBe("'-1+2");
    expect(csvField(42)).toBe('42');
    expect(csvField(true)).toBe('true');
    expect(csvField(undefined)).toBe('');
  });

  it('renders text and an HTML table of the peers; no attachment up to the row limit', () => {
    const list = peers(3);
    list[0]!.captureReport!.clientName = '<img src=x onerror=alert(1)>';
    const d = renderDigest({ filter: 'watch-ru', peers: list, rowLimit: 3, firstId: 10, lastId: 12 });
    expect(d.subject).toBe('[capture-daemon] watch-ru: 3 peers captured');
    expect(d.csv).toBeUndefined();
    expect(d.text).toContain('Filter "watch-ru": 3 peers captured (found 2018-06-17T05:58:36.000+0000 to 2018-06-17T05:58:36.002+0000).');
    expect(d.text).toContain('10.0.0.1:1025');
    expect(d.text).toContain('error: connection timed out');
    expect(d.text).toContain('3053/3053 pieces (seeder)');
    expect(d.html).toContain('<th style="text-align:left;padding:2px 6px">infohash</th>');
    expect(d.html.match(/<tr>/g)).toHaveLength(4); // header + 3 peers
    expect(d.html).not.toContain('<img');
    expect(d.html).toContain('&#60;img src=x onerror=alert(1)&#62;');
  });

  it('beyond the row limit: the body shows the first rows and a CSV holds them all', () => {
    const list = peers(7);
    const d = renderDigest({ filter: 'f', peers: list, rowLimit: 5, firstId: 1, lastId: 7 });
    expect(d.html.match(/<tr>/g)).toHaveLength(6);
    expect(d.text).toContain('… and 2 more peers: all 7 are in the attached capture-f-1-7.csv.');
    expect(d.csv?.filename).toBe('capture-f-1-7.csv');
    const lines = d.csv!.content.trimEnd().split('\r\n');
    expect(lines).toHaveLength(8);
    expect(lines[0]).toBe('date,ip,port,infohash,countryCode,city,isp,reportDate,clientName,hasPieces,totalPiecesInTorrent,hasTotal,hostIdentifier,error');
    expect(lines[1]).toBe(
      '2018-06-17T05:58:36.000+0000,10.0.0.0,1024,00000000d059053fd7122a95408346147b1edc01,RU,Vladivostok,Example ISP,2018-06-17T05:59:01.000+0000,BitTorrent 7.10,3053,3053,true,host-0.example.ru,',
    );
    expect(lines[2]?.endsWith(',connection timed out')).toBe(true);
    expect(renderCsv([])).toBe(`${lines[0]}\r\n`);
  });

  it('derives a stable Message-ID from the filter, the outbox id range and the count', () => {
    expect(digestMessageId('watch-ru', 10, 12, 3, 'Capture <capture@example.org>')).toBe('<digest.watch-ru.10-12.3@example.org>');
    expect(digestMessageId('a b', 1, 1, 1, 'no-at-sign')).toBe('<digest.a_b.1-1.1@capture-daemon.invalid>');
  });
});
