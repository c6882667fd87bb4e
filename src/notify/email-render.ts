import type { PeerJson } from '../api-shape/peer-json.js';

/** One email digest, ready for nodemailer. */
export interface RenderedDigest {
  subject: string;
  text: string;
  html: string;
  /** All peers as CSV, only when there are more than the row limit (the body then shows the first ones). */
  csv: { filename: string; content: string } | undefined;
}

export interface DigestInput {
  filter: string;
  /** Peers in store order (outbox id order). */
  peers: readonly PeerJson[];
  /** Rows shown in the text and HTML body; beyond it, the full list goes in a CSV attachment. */
  rowLimit: number;
  /** Outbox ids covered (for the footer; the Message-ID is derived from them too). */
  firstId: number;
  lastId: number;
}

/** Stable Message-ID of the digest covering outbox rows firstId..lastId of `filter` (count rows). */
export function digestMessageId(filter: string, firstId: number, lastId: number, count: number, from: string): string {
  const domain = /@([A-Za-z0-9.-]+)>?\s*$/.exec(from)?.[1] ?? 'capture-daemon.invalid';
  // Filter names are [\w.-]+ (config schema), all valid in a Message-ID's dot-atom; anything else is replaced.
  const safe = filter.replace(/[^\w.-]/g, '_');
  return `<digest.${safe}.${firstId}-${lastId}.${count}@${domain}>`;
}

// ------------------------------------------------------------------ escaping
// Capture data is partly chosen by strangers (clientName from the peer's handshake, hostIdentifier from
// its reverse DNS): everything is escaped for the place it goes.

/** Control characters (C0, DEL, C1) would break lines or terminals: shown as U+FFFD. */
export function sanitizeText(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '\ufffd');
}

export function escapeHtml(s: string): string {
  return sanitizeText(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** RFC 4180 field; a leading = + - @ is neutralised with a quote so spreadsheets do not run it as a formula. */
export function csvField(value: string | number | boolean | undefined): string {
  if (value === undefined) return '';
  let s = typeof value === 'string' ? value : String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

// ------------------------------------------------------------------ columns
interface Column {
  title: string;
  value: (p: PeerJson) => string | number | boolean | undefined;
}

const COLUMNS: readonly Column[] = [
  { title: 'date', value: (p) => p.date },
  { title: 'ip', value: (p) => p.ip },
  { title: 'port', value: (p) => p.port },
  { title: 'infohash', value: (p) => p.infohash },
  { title: 'countryCode', value: (p) => p.countryCode },
  { title: 'city', value: (p) => p.city },
  { title: 'isp', value: (p) => p.isp },
  { title: 'reportDate', value: (p) => p.captureReport?.date },
  { title: 'clientName', value: (p) => p.captureReport?.clientName },
  { title: 'hasPieces', value: (p) => p.captureReport?.hasPieces },
  { title: 'totalPiecesInTorrent', value: (p) => p.captureReport?.totalPiecesInTorrent },
  { title: 'hasTotal', value: (p) => p.captureReport?.hasTotal },
  { title: 'hostIdentifier', value: (p) => p.captureReport?.hostIdentifier },
  { title: 'error', value: (p) => p.error },
];

export function renderCsv(peers: readonly PeerJson[]): string {
  const lines = [COLUMNS.map((c) => c.title).join(',')];
  for (const p of peers) lines.push(COLUMNS.map((c) => csvField(c.value(p))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

function endpoint(p: PeerJson): string {
  return p.ip.includes(':') ? `[${p.ip}]:${p.port}` : `${p.ip}:${p.port}`;
}

function where(p: PeerJson): string {
  return [p.countryCode, p.city, p.isp].filter((x) => x !== undefined && x !== '').join(', ');
}

function outcome(p: PeerJson): string {
  const r = p.captureReport;
  if (!r) return `error: ${p.error ?? 'unknown error'}`;
  const pieces = `${r.hasPieces}/${r.totalPiecesInTorrent} pieces${r.hasTotal ? ' (seeder)' : ''}`;
  return [r.clientName || 'unknown client', pieces, r.hostIdentifier].filter((x) => x !== '').join(', ');
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function renderDigest(input: DigestInput): RenderedDigest {
  const { filter, peers, rowLimit } = input;
  const shown = peers.slice(0, rowLimit);
  const more = peers.length - shown.length;
  const first = peers[0]?.date ?? '';
  const last = peers[peers.length - 1]?.date ?? '';
  const csvName = `capture-${filter.replace(/[^\w.-]/g, '_')}-${input.firstId}-${input.lastId}.csv`;
  const span = first === last ? first : `${first} to ${last}`;
  const subject = `[capture-daemon] ${filter}: ${plural(peers.length, 'peer')} captured`;

  const text: string[] = [
    `Filter "${filter}": ${plural(peers.length, 'peer')} captured (found ${span}).`,
    '',
  ];
  for (const p of shown) {
    text.push(sanitizeText(`${p.date}  ${endpoint(p)}  ${p.infohash}  ${where(p) || '-'}  ${outcome(p)}`));
  }
  if (more > 0) text.push('', `… and ${plural(more, 'more peer')}: all ${peers.length} are in the attached ${csvName}.`);
  text.push('', `-- capture-daemon digest, outbox ids ${input.firstId}-${input.lastId}`);

  const head = COLUMNS.map((c) => `<th style="text-align:left;padding:2px 6px">${escapeHtml(c.title)}</th>`).join('');
  const body = shown
    .map((p) => {
      const cells = COLUMNS.map((c) => {
        const v = c.value(p);
        return `<td style="padding:2px 6px">${v === undefined ? '' : escapeHtml(String(v))}</td>`;
      }).join('');
      return `<tr>${cells}</tr>`;
    })
    .join('\n');
  const html = [
    '<!DOCTYPE html>',
    '<html><head><meta charset="utf-8"><title>' + escapeHtml(subject) + '</title></head><body>',
    `<p>Filter <b>${escapeHtml(filter)}</b>: ${plural(peers.length, 'peer')} captured (found ${escapeHtml(span)}).</p>`,
    '<table border="1" cellspacing="0" style="border-collapse:collapse;font-family:monospace;font-size:12px">',
    `<thead><tr>${head}</tr></thead>`,
    `<tbody>\n${body}\n</tbody>`,
    '</table>',
    more > 0 ? `<p>… and ${plural(more, 'more peer')}: all ${peers.length} are in the attached ${escapeHtml(csvName)}.</p>` : '',
    `<p style="color:#888">capture-daemon digest, outbox ids ${input.firstId}-${input.lastId}</p>`,
    '</body></html>',
  ]
    .filter((l) => l !== '')
    .join('\n');

  return {
    subject,
    text: `${text.join('\n')}\n`,
    html,
    csv: more > 0 ? { filename: csvName, content: renderCsv(peers) } : undefined,
  };
}
