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

/**
 * How many characters a list answer's chunks hold (about 64 KiB of UTF-8 for ASCII names): a
 * 5,000-torrent page goes out as ~20 chunks of short-lived strings instead of one 1.3 MiB string
 * (which V8 builds as a rope, flattens and encodes in one go, and whose garbage made the p99).
 */
export const CHUNK_CHARS = 64 * 1024;

/**
 * The chunks as one UTF-8 buffer. Measured at 1 M listed torrents (bench/spam-list.ts): less CPU
 * per page than one string (no 1.3 MiB rope to flatten and encode, no large strings for the
 * garbage collector) and less than a stream of the chunks (Readable.from's per-chunk machinery).
 */
export function encodeChunks(chunks: Iterable<string>): Buffer {
  const parts: Buffer[] = [];
  for (const c of chunks) parts.push(Buffer.from(c, 'utf8'));
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

export function* textChunks(entries: readonly SpamEntry[], chunkChars = CHUNK_CHARS): Generator<string> {
  let out = '';
  for (const e of entries) {
    out += textLine(e);
    if (out.length >= chunkChars) {
      yield out;
      out = '';
    }
  }
  if (out !== '') yield out;
}

export function textList(entries: readonly SpamEntry[]): string {
  return [...textChunks(entries)].join('');
}

// Characters XML 1.0 cannot carry at all, not even as a character reference: C0 controls but tab,
// line feed and carriage return, lone surrogates, U+FFFE and U+FFFF. They become U+FFFD.
// eslint-disable-next-line no-control-regex
const XML_INVALID = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Text XML 1.0 can carry (xmlText then escapes markup characters and quotes). */
export function xmlSafe(text: string): string {
  return text.replace(XML_INVALID, '\ufffd');
}

/** Anything xmlText would change: a markup character, a quote, CR, or anything XML_INVALID matches (surrogates checked in full by xmlSafe). */
// eslint-disable-next-line no-control-regex
const NEEDS_XML_ESCAPE = /[&<>"'\r\u0000-\u0008\u000b\u000c\u000e-\u001f\ud800-\udfff\ufffe\uffff]/;

const XML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\r': '&#13;' };

/**
 * Text for an XML element or attribute: characters XML cannot carry become U+FFFD (xmlSafe), the
 * markup characters and quotes become entities, and a carriage return `&#13;` (a parser would turn
 * a literal one into a line feed).
 */
export function xmlText(text: string): string {
  // Most names need nothing: one scan says so, and the name is used as it is.
  if (!NEEDS_XML_ESCAPE.test(text)) return text;
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
 * in `<nextPage>` with the next page's URL when one follows. Yields chunks of about `chunkChars`
 * characters (see CHUNK_CHARS), so a page can be streamed as it is written.
 */
export function* xmlChunks(entries: readonly SpamEntry[], nextPage?: string, chunkChars = CHUNK_CHARS): Generator<string> {
  // Written directly rather than through an XML builder object model: a 5,000-torrent page is
  // one concatenation pass (fast-xml-builder took ~8× as long per page, over the 50 ms p99
  // target at a million listed torrents). Every text goes through xmlText.
  let out = `<?xml version="1.0" encoding="UTF-8"?>\n<spamList count="${entries.length}">\n`;
  for (const e of entries) {
    out += entryXml(e);
    if (out.length >= chunkChars) {
      yield out;
      out = '';
    }
  }
  if (nextPage !== undefined) out += `  <nextPage>${xmlText(nextPage)}</nextPage>\n`;
  yield `${out}</spamList>\n`;
}

/** The XML list (xmlChunks) as one string, for short answers (a check, a report). */
export function xmlList(entries: readonly SpamEntry[], nextPage?: string): string {
  return [...xmlChunks(entries, nextPage)].join('');
}
