import type { SpamEntry } from './ports.js';

/** Separator of the plain-text lines, as the original: `Torrent Name --- Hash Value --- Count`. */
export const TEXT_SEPARATOR = ' --- ';

/**
 * A name made safe for one text line: `\` → `\\`, line breaks and other control characters →
 * `\n`, `\r`, `\t` or `\xHH`, U+2028/U+2029 (line separators to some readers) → `\u2028`/`\u2029`,
 * and a hyphen that would make a run of three → `\-`, so the line always splits into exactly
 * three fields on " --- ". Other text (any script, emoji) stays as it is, in UTF-8.
 */
export function escapeTextName(name: string): string {
  let out = '';
  let hyphens = 0;
  for (const ch of name) {
    const c = ch.codePointAt(0) as number;
    if (ch === '-') {
      hyphens++;
      if (hyphens < 3) out += '-';
      else {
        out += '\\-';
        hyphens = 1; // the escape ends in a hyphen too
      }
      continue;
    }
    hyphens = 0;
    if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16)}`;
    else if (c >= 0xd800 && c <= 0xdfff) out += '\ufffd'; // a lone surrogate is no text
    else out += ch;
  }
  return out;
}

/** Reverses escapeTextName (for clients and tests). */
export function unescapeTextName(text: string): string {
  return text.replace(/\\(x[0-9a-f]{2}|u[0-9a-f]{4}|[\\nrt-])/g, (_, e: string) => {
    if (e === 'n') return '\n';
    if (e === 'r') return '\r';
    if (e === 't') return '\t';
    if (e === '\\' || e === '-') return e;
    return String.fromCodePoint(parseInt(e.slice(1), 16));
  });
}

export function textLine(e: SpamEntry): string {
  return `${escapeTextName(e.name)}${TEXT_SEPARATOR}${e.infohash}${TEXT_SEPARATOR}${e.count}\n`;
}

export function textList(entries: readonly SpamEntry[]): string {
  let out = '';
  for (const e of entries) out += textLine(e);
  return out;
}

// Characters XML 1.0 cannot carry at all, not even as a character reference: C0 controls but tab,
// line feed and carriage return, lone surrogates, U+FFFE and U+FFFF. They become U+FFFD.
// eslint-disable-next-line no-control-regex
const XML_INVALID = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Text XML 1.0 can carry (xmlText then escapes markup characters and quotes). */
export function xmlSafe(text: string): string {
  return text.replace(XML_INVALID, '\ufffd');
}

const XML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\r': '&#13;' };

/**
 * Text for an XML element or attribute: characters XML cannot carry become U+FFFD (xmlSafe), the
 * markup characters and quotes become entities, and a carriage return `&#13;` (a parser would turn
 * a literal one into a line feed).
 */
export function xmlText(text: string): string {
  return xmlSafe(text).replace(/[&<>"'\r]/g, (c) => XML_ESCAPES[c] as string);
}

function element(name: string, text: string): string {
  return text === '' ? `<${name}/>` : `<${name}>${text}</${name}>`;
}

function entryXml(e: SpamEntry): string {
  let out =
    `  <torrent>\n    ${element('name', xmlText(e.name))}\n    <hash>${e.infohash}</hash>\n    <count>${e.count}</count>\n` +
    `    ${element('category', xmlText(e.category))}\n    <firstReported>${e.firstReported}</firstReported>\n` +
    `    <lastReported>${e.lastReported}</lastReported>\n`;
  if (e.reasons.length > 0) {
    out += '    <reasons>\n';
    for (const r of e.reasons) out += `      <reason code="${xmlText(r.code)}" at="${r.at}">${xmlText(r.detail)}</reason>\n`;
    out += '    </reasons>\n';
  }
  return `${out}  </torrent>\n`;
}

/**
 * The XML list: `<spamList>` with one `<torrent>` per entry (name, hash, count, category,
 * firstReported, lastReported as epoch seconds, and `<reasons>` when evidence rules fired), ending
 * in `<nextPage>` with the next page's URL when one follows.
 */
export function xmlList(entries: readonly SpamEntry[], nextPage?: string): string {
  // Written directly rather than through an XML builder object model: a 5,000-torrent page is
  // one string concatenation pass (fast-xml-builder took ~8× as long per page, over the 50 ms p99
  // target at a million listed torrents). Every text goes through xmlText.
  let out = `<?xml version="1.0" encoding="UTF-8"?>\n<spamList count="${entries.length}">\n`;
  for (const e of entries) out += entryXml(e);
  if (nextPage !== undefined) out += `  <nextPage>${xmlText(nextPage)}</nextPage>\n`;
  return `${out}</spamList>\n`;
}
