/**
 * Human-readable BitTorrent client names, from the BEP 10 extended handshake's `v` or from the
 * 20-byte peer id (BEP 20 conventions plus the well-known exceptions). Pure: no I/O.
 *
 * Peer id styles handled, in this order:
 * 1. Known oddities (exbc/FUTB/xUTB BitComet & BitLord, BitSpirit, -BOW, -ML, XBT, OP, Plus,
 *    turbobt, TIX, 346-, aria2 `A2-x-y-z-`, DNA, …).
 * 2. Azureus style `-XXvvvv-` with a table of client codes and each client's version scheme.
 * 3. Shad0w/BitTornado style: one letter + up to 5 base-64 version digits padded with '-'
 *    (`T03I--` BitTornado 0.3.18, `S587----` Shad0w 5.8.7).
 * 4. Mainline style `Mx-y-z-` / `Mx-yy-z-` (`M7-10-0--` Mainline 7.10.0) and Queen Bee (`Q`).
 * 5. Unrecognised Azureus-style codes: "Unknown (XX) 1.2.3.4".
 * Anything else is 'unknown' (deliberately no bytes of a random id are echoed, so names group).
 */

export const UNKNOWN_CLIENT = 'unknown';

/** Longest client name we return from an extended handshake `v`. */
export const MAX_CLIENT_NAME_LENGTH = 64;

// ---------------------------------------------------------------------------------------------
// Extended handshake `v`
// ---------------------------------------------------------------------------------------------

/**
 * Cleans a BEP 10 `v` string for display and storage: whitespace controls become spaces, other
 * control and invisible format characters (C0, DEL, C1, bidi overrides, zero-width) are
 * removed, whitespace is collapsed and trimmed, and the result is capped at 64 code points.
 * Returns undefined when nothing meaningful (no letter or digit) is left.
 */
export function sanitizeClientVersion(v: string | undefined): string | undefined {
  if (typeof v !== 'string' || v.length === 0) return undefined;
  const cleaned = v
    .replace(/[\t\n\v\f\r\u0085\u2028\u2029]/g, ' ')
    .replace(/[\p{Cc}\p{Cf}]/gu, '')
    .replace(/\s+/g, ' ')
    .trim();
  if (!/[\p{L}\p{N}]/u.test(cleaned)) return undefined;
  const capped = Array.from(cleaned).slice(0, MAX_CLIENT_NAME_LENGTH).join('').trimEnd();
  return capped;
}

/**
 * The client name to record for a peer: the extended handshake's `v` when it is a usable
 * printable string, else the name decoded from the peer id, else 'unknown'.
 */
export function clientName(extendedV: string | undefined, peerId: Uint8Array | undefined): string {
  const v = sanitizeClientVersion(extendedV);
  if (v !== undefined) return v;
  if (peerId !== undefined) return clientNameFromPeerId(peerId);
  return UNKNOWN_CLIENT;
}

// ---------------------------------------------------------------------------------------------
// Version digit helpers
// ---------------------------------------------------------------------------------------------

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** BitTornado's URL-safe base 64 (forums.degreez.net "BitTornado peer ID spec"). */
const SHADOW64 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.-';

/**
 * Value of one version character: '0'-'9' → 0-9, 'A'-'Z' → 10-35, 'a'-'z' → 36-61 (libtorrent's
 * fingerprint uses 'A' for 10, so `-lt0D80-` is 0.13.8 and `-DE13F0-` is 1.3.15).
 */
function b62(c: string | undefined): number | undefined {
  if (c === undefined || c.length !== 1) return undefined;
  const i = BASE62.indexOf(c);
  return i < 0 ? undefined : i;
}

/** Base-62 digits joined with dots, or undefined if any is not alphanumeric. */
function dotted(chars: string): string | undefined {
  const parts: number[] = [];
  for (const c of chars) {
    const d = b62(c);
    if (d === undefined) return undefined;
    parts.push(d);
  }
  return parts.join('.');
}

/** A run of decimal digits as a number, or undefined. */
function dec(s: string): number | undefined {
  return /^[0-9]+$/.test(s) ? Number.parseInt(s, 10) : undefined;
}

function hex1(c: string | undefined): number | undefined {
  return c !== undefined && /^[0-9A-Fa-f]$/.test(c) ? Number.parseInt(c, 16) : undefined;
}

/** Release-channel suffix used by several clients in the last version character. */
function mnemonic(c: string | undefined): string {
  switch (c) {
    case 'B':
    case 'b':
      return ' (Beta)';
    case 'A':
    case 'a':
      return ' (Alpha)';
    case 'd':
      return ' (Debug)';
    case 'X':
    case 'x':
    case 'Z':
      return ' (Dev)';
    default:
      return '';
  }
}

function withVersion(name: string, version: string | undefined): string {
  return version === undefined || version === '' ? name : `${name} ${version}`;
}

// ---------------------------------------------------------------------------------------------
// Azureus style: -XXvvvv-
// ---------------------------------------------------------------------------------------------

/** Formats the 4 version characters `v` (id[3..6]); `s` is the whole id as latin1 text. */
type VersionFormat = (v: string, s: string) => string | undefined;

const noVersion: VersionFormat = () => undefined;
const fourDigits: VersionFormat = (v) => dotted(v);
const threeDigits: VersionFormat = (v) => dotted(v.slice(0, 3));
const twoDigits: VersionFormat = (v) => dotted(v.slice(0, 2));

/** "MMmm": major from two decimal digits, minor as two digits: -BC0208- → 2.08, TIX0289 → 2.89. */
const twoMajorTwoMinor: VersionFormat = (v) => {
  const major = dec(v.slice(0, 2));
  return major === undefined || dec(v.slice(2, 4)) === undefined ? undefined : `${major}.${v.slice(2, 4)}`;
};

/**
 * Transmission: -TR0006- 0.6, -TR0072- 0.72; 0.80–3.xx: one major digit, two minor digits and
 * '0' release / 'Z' nightly / 'X' beta (-TR2920- 2.92, -TR300Z- 3.00+); from 4.0: base-62
 * major.minor.patch and '0'/'B' beta/'Z' dev (-TR4050- 4.0.5, -TR400B- 4.0.0 (Beta)).
 */
const transmission: VersionFormat = (v) => {
  if (v.startsWith('000')) return dec(v[3] ?? '') === undefined ? undefined : `0.${v[3]}`;
  if (v.startsWith('00')) return dec(v.slice(2, 4)) === undefined ? undefined : `0.${v.slice(2, 4)}`;
  const major = b62(v[0]);
  if (major === undefined) return undefined;
  if (major <= 3) {
    if (dec(v.slice(1, 3)) === undefined) return undefined;
    const suffix = v[3] === 'Z' || v[3] === 'X' ? '+' : v[3] === 'B' ? ' (Beta)' : '';
    return `${major}.${v.slice(1, 3)}${suffix}`;
  }
  const rest = dotted(v.slice(0, 3));
  return rest === undefined ? undefined : rest + mnemonic(v[3]);
};

/**
 * µTorrent family (UT, UM, UE, UW, BT): hex major.minor.patch + release char (B beta, A alpha,
 * …). Longer versions replace the trailing dash: -UT3510B is 3.5.10 (Beta).
 */
const utorrent: VersionFormat = (v, s) => {
  const major = hex1(v[0]);
  const minor = hex1(v[1]);
  if (major === undefined || minor === undefined) return undefined;
  if (s[7] === '-') {
    const patch = hex1(v[2]);
    return patch === undefined ? undefined : `${major}.${minor}.${patch}${mnemonic(v[3])}`;
  }
  const patch = dec(s.slice(5, 7));
  return patch === undefined ? undefined : `${major}.${minor}.${patch}${mnemonic(s[7])}`;
};

/** Deluge: base-62 major.minor.patch; since 2.0 the 4th char is s (stable), D (dev), a/b/r. */
const deluge: VersionFormat = (v) => {
  const base = dotted(v.slice(0, 3));
  if (base === undefined) return undefined;
  const tag = { D: ' (Dev)', a: ' (Alpha)', b: ' (Beta)', r: ' (RC)' }[v[3] ?? ''] ?? '';
  return base + tag;
};

/** KTorrent: major.minor.patch, or major.minor + D(ev)/R(C) + number. */
const ktorrent: VersionFormat = (v) => {
  if (v[2] === 'D' || v[2] === 'R') {
    const mm = dotted(v.slice(0, 2));
    const n = b62(v[3]);
    return mm === undefined || n === undefined ? undefined : `${mm} ${v[2] === 'D' ? 'Dev' : 'RC'} ${n}`;
  }
  return dotted(v.slice(0, 3));
};

/** WebTorrent: two decimal digits each of major and minor: -WW0105- → 1.5. */
const webtorrent: VersionFormat = (v) => {
  const major = dec(v.slice(0, 2));
  const minor = dec(v.slice(2, 4));
  return major === undefined || minor === undefined ? undefined : `${major}.${minor}`;
};

/** CTorrent: major.minor.(two-digit patch). */
const ctorrent: VersionFormat = (v) => {
  const mm = dotted(v.slice(0, 2));
  const patch = dec(v.slice(2, 4));
  return mm === undefined || patch === undefined ? undefined : `${mm}.${patch}`;
};

/**
 * Azureus-style client codes (BEP 20's list, extended with codes seen in the wild as collected
 * by Vuze's BTPeerIDByteDecoder, libtransmission's clients.cc and bittorrent-peerid). The
 * default version scheme is four base-62 digits joined by dots.
 */
const AZ_CLIENTS: Readonly<Record<string, readonly [name: string, format?: VersionFormat]>> = {
  '7T': ['aTorrent'],
  'A~': ['Ares', threeDigits],
  AG: ['Ares', threeDigits],
  AN: ['Ares'],
  AR: ['Arctic'],
  AT: ['Artemis'],
  AV: ['Avicora'],
  AX: ['BitPump', twoMajorTwoMinor],
  AZ: ['Azureus/Vuze'],
  BB: ['BitBuddy'],
  BC: ['BitComet', twoMajorTwoMinor],
  BE: ['BitTorrent SDK'],
  BF: ['BitFlu', noVersion],
  BG: ['BTG'],
  BI: ['BiglyBT'],
  BL: ['BitLord'],
  BM: ['BitMagnet'],
  BN: ['Baidu Netdisk', noVersion],
  BP: ['BitTorrent Pro'],
  BR: ['BitRocket'],
  BS: ['BTSlave'],
  BT: ['BitTorrent', utorrent],
  BW: ['BitWombat'],
  BX: ['BittorrentX'],
  CD: ['Enhanced CTorrent', twoMajorTwoMinor],
  cD: ['capture-daemon', dotted],
  CT: ['CTorrent', ctorrent],
  DE: ['Deluge', deluge],
  DP: ['Propagate Data Client'],
  EB: ['EBit'],
  ES: ['Electric Sheep', threeDigits],
  FC: ['FileCroc'],
  FD: ['Free Download Manager', threeDigits],
  FG: ['FlashGet', twoMajorTwoMinor],
  FL: ['Folx', noVersion],
  FT: ['FoxTorrent/RedSwoosh'],
  FW: ['FrostWire', threeDigits],
  FX: ['Freebox BitTorrent'],
  G3: ['G3 Torrent', noVersion],
  GR: ['GetRight'],
  GS: ['GSTorrent'],
  HK: ['Hekate'],
  HL: ['Halite', threeDigits],
  HN: ['Hydranode'],
  KG: ['KGet'],
  KT: ['KTorrent', ktorrent],
  LC: ['LeechCraft'],
  LH: ['LH-ABC'],
  LK: ['linkage', threeDigits],
  LP: ['Lphant', twoMajorTwoMinor],
  LT: ['libtorrent', threeDigits], // Rasterbar (arvidn) libtorrent
  lt: ['libTorrent', threeDigits], // Rakshasa libTorrent (rTorrent)
  LW: ['LimeWire', noVersion],
  MG: ['MediaGet', twoDigits],
  MK: ['Meerkat'],
  MO: ['MonoTorrent'],
  MP: ['MooPolice', threeDigits],
  MR: ['Miro'],
  MT: ['MoonlightTorrent'],
  NE: ['BT Next Evolution', threeDigits],
  NX: ['Net Transport'],
  OS: ['OneSwarm'],
  OT: ['OmegaTorrent'],
  PD: ['Pando'],
  PE: ['PeerProject'],
  PI: ['PicoTorrent', threeDigits],
  PT: ['Popcorn Time'],
  pb: ['pbTorrent', threeDigits],
  pX: ['pHoeniX'],
  qB: ['qBittorrent', threeDigits],
  QD: ['QQDownload'],
  QT: ['Qt 4 Torrent example'],
  rQ: ['rqbit', threeDigits],
  RS: ['Rufus'],
  RT: ['Retriever'],
  RZ: ['RezTorrent'],
  'S~': ['Shareaza alpha/beta'],
  SB: ['SwiftBit'],
  SD: ['Thunder (Xunlei)'],
  SG: ['GS Torrent'],
  SM: ['SoMud'],
  SN: ['ShareNET'],
  SP: ['BitSpirit', threeDigits],
  SS: ['SwarmScope'],
  ST: ['SymTorrent'],
  st: ['SharkTorrent'],
  SZ: ['Shareaza'],
  TN: ['Torrent.NET'],
  TR: ['Transmission', transmission],
  TS: ['TorrentStorm'],
  TT: ['TuoTu', threeDigits],
  UE: ['µTorrent Embedded', utorrent],
  UL: ['uLeecher!'],
  UM: ['µTorrent Mac', utorrent],
  UT: ['µTorrent', utorrent],
  UW: ['µTorrent Web', utorrent],
  VG: ['Vagaa'],
  WD: ['WebTorrent Desktop', webtorrent],
  WS: ['HTTP Seed', noVersion],
  WT: ['BitLet'],
  WW: ['WebTorrent', webtorrent],
  WY: ['FireTorrent'],
  XC: ['Xtorrent'],
  XF: ['Xfplay'],
  XL: ['Xunlei'],
  XS: ['XSwifter'],
  XT: ['XanTorrent'],
  XX: ['Xtorrent'],
  ZO: ['Zona'],
  ZT: ['ZipTorrent'],
  bk: ['BitKitten (libtorrent)'],
};

/**
 * Codes whose clients are known to break the trailing dash: FlashGet, LH-ABC, BT Next
 * Evolution, KTorrent 3, BitSpirit; the µTorrent family puts an extra version digit there.
 */
const AZ_NO_TRAILING_DASH = new Set(['FG', 'LH', 'NE', 'KT', 'SP', 'UT', 'UM', 'UE', 'UW', 'BT']);

function isPrintableAscii(s: string): boolean {
  return /^[\x21-\x7e]*$/.test(s);
}

function decodeAzureus(s: string): string | undefined {
  if (s.length < 8 || s[0] !== '-') return undefined;
  const code = s.slice(1, 3);
  const v = s.slice(3, 7);
  const known = Object.hasOwn(AZ_CLIENTS, code) ? AZ_CLIENTS[code] : undefined;
  if (known && (s[7] === '-' || AZ_NO_TRAILING_DASH.has(code))) {
    const [name, format = fourDigits] = known;
    return withVersion(name, format(v, s));
  }
  if (s[7] !== '-' || !isPrintableAscii(code + v) || code.includes('-')) return undefined;
  return withVersion(`Unknown (${code})`, dotted(v));
}

// ---------------------------------------------------------------------------------------------
// Shad0w style, Mainline style
// ---------------------------------------------------------------------------------------------

const SHADOW_CLIENTS: Readonly<Record<string, string>> = {
  A: 'ABC',
  O: 'Osprey Permaseed',
  Q: 'BTQueue',
  R: 'Tribler',
  S: 'Shad0w',
  T: 'BitTornado',
  U: 'UPnP NAT Bit Torrent',
};

/**
 * One client letter, then 1–5 base-64 version digits (the first a decimal digit, as no such
 * client reached version 10), padded with '-' to 6 characters: T03I-- → BitTornado 0.3.18.
 */
function decodeShadow(s: string): string | undefined {
  const name = Object.hasOwn(SHADOW_CLIENTS, s[0] ?? '') ? SHADOW_CLIENTS[s[0] as string] : undefined;
  if (name === undefined || s.length < 6 || dec(s[1] ?? '') === undefined) return undefined;
  const header = s.slice(1, 6);
  const m = /^([0-9A-Za-z.]+)(-*)$/.exec(header);
  if (!m) return undefined;
  const digits = m[1] as string;
  // With all 5 version digits used there is no padding to recognise the style by: require the
  // BitTornado single-download ('---') or multitracker ('-T-') marker after the header.
  if (digits.length === 5 && !['---', '-T-'].includes(s.slice(6, 9))) return undefined;
  const version = Array.from(digits, (c) => SHADOW64.indexOf(c)).join('.');
  return `${name} ${version}`;
}

const MAINLINE_CLIENTS: Readonly<Record<string, string>> = { M: 'Mainline', Q: 'Queen Bee' };

/** Mx-y-z-- / Mx-yy-z-: M4-3-6-- is 4.3.6, M7-10-0-- is 7.10.0. */
function decodeMainline(s: string): string | undefined {
  const m = /^([MQ])(\d{1,2})-(\d{1,2})-(\d{1,2})-/.exec(s);
  if (!m) return undefined;
  return `${MAINLINE_CLIENTS[m[1] as string]} ${Number(m[2])}.${Number(m[3])}.${Number(m[4])}`;
}

// ---------------------------------------------------------------------------------------------
// Clients with their own schemes
// ---------------------------------------------------------------------------------------------

/** BitComet < 0.59 and BitLord: "exbc" + major byte + minor byte (+ "LORD" for BitLord). */
function decodeBitCometOld(s: string, id: Uint8Array): string | undefined {
  const lead = s.slice(0, 4);
  const mod = lead === 'exbc' ? '' : lead === 'FUTB' ? ' (Solidox Mod)' : lead === 'xUTB' ? ' (Mod 2)' : undefined;
  if (mod === undefined || id.length < 6) return undefined;
  const name = s.slice(6, 10) === 'LORD' ? 'BitLord' : 'BitComet';
  return `${name}${mod} ${id[4]}.${String(id[5]).padStart(2, '0')}`;
}

/** A version copied verbatim from the id: only digits, letters and dots, never empty. */
function safeVersion(raw: string | undefined): string | undefined {
  return raw !== undefined && /^[0-9A-Za-z.]+$/.test(raw) ? raw : undefined;
}

/** Version characters at the given offsets joined with `sep`s; undefined if any is missing. */
function charsAt(s: string, offsets: readonly number[], sep: string): string | undefined {
  const chars = offsets.map((i) => s[i]);
  if (chars.some((c) => c === undefined || !/^[0-9A-Za-z]$/.test(c))) return undefined;
  return chars.join(sep);
}

/** Decimal numbers joined with dots; undefined if any is missing. */
function numbers(parts: ReadonlyArray<number | undefined>): string | undefined {
  return parts.every((p) => p !== undefined) ? parts.join('.') : undefined;
}

/**
 * Prefix-matched clients that do not follow the Azureus/Shadow/Mainline conventions, checked
 * before them (e.g. -BOWA0C- would otherwise parse as Azureus code "BO").
 */
const CUSTOM_CLIENTS: ReadonlyArray<readonly [prefix: string, name: string, version?: (s: string) => string | undefined]> = [
  ['-BOW', 'Bits on Wheels', (s) => ({ A0B: '1.0.5', A0C: '1.0.6' })[s.slice(4, 7)]],
  ['-ML', 'MLdonkey', (s) => safeVersion(/^-ML([0-9.]+)-/.exec(s)?.[1])],
  ['-aria2-', 'aria2'],
  ['aria2-', 'aria2'],
  ['A2-', 'aria2', (s) => /^A2-(\d{1,3})-(\d{1,3})-(\d{1,3})-/.exec(s)?.slice(1).map(Number).join('.')],
  ['AZ2500BT', 'BitTyrant (Azureus Mod)'],
  ['346-', 'TorrentTopia'],
  ['10-------', 'JVtorrent'],
  ['BLZ', 'Blizzard Downloader'],
  ['DNA', 'BitTorrent DNA', (s) => numbers([dec(s.slice(3, 5)), dec(s.slice(5, 7)), dec(s.slice(7, 9))])],
  ['LIME', 'LimeWire'],
  ['Mbrst', 'burst!', (s) => charsAt(s, [5, 7, 9], '.')],
  ['Pando', 'Pando'],
  ['Plus', 'Plus!', (s) => {
    const major = charsAt(s, [4], '');
    const minor = charsAt(s, [5, 6], '');
    return major === undefined || minor === undefined ? undefined : `${major}.${minor}`;
  }],
  ['QVOD', 'QVOD', (s) => dotted(s.slice(4, 8))],
  ['S3-', 'Amazon S3', (s) => charsAt(s, [3, 5, 7], '.')],
  ['TIX', 'Tixati', (s) => twoMajorTwoMinor(s.slice(3, 7), s)],
  ['XBT', 'XBT Client', (s) => {
    const v = dotted(s.slice(3, 6));
    return v === undefined ? undefined : v + mnemonic(s[6]);
  }],
  ['btpd', 'BT Protocol Daemon', (s) => /^btpd\/(\d+\.\d+)/.exec(s)?.[1]],
  ['turbobt', 'TurboBT', (s) => safeVersion(/^turbobt([0-9.]+)/.exec(s)?.[1])],
  ['martini', 'Martini Man'],
  ['a00---0', 'Swarmy'],
  ['a02---0', 'Swarmy'],
  ['T00---0', 'Teeweety'],
  ['eX', 'eXeem'],
];

function decodeCustom(s: string, id: Uint8Array): string | undefined {
  const old = decodeBitCometOld(s, id);
  if (old !== undefined) return old;
  // BitSpirit (pre-3.6): 0x00, version byte, "BS".
  if (id[0] === 0 && s.slice(2, 4) === 'BS') return `BitSpirit ${id[1] === 0 ? 1 : id[1]}`;
  // Opera 8 previews / 9.x: "OP" + 4-digit build number.
  const opera = /^OP(\d{4})/.exec(s);
  if (opera) return `Opera (build ${opera[1]})`;
  for (const [prefix, name, version] of CUSTOM_CLIENTS) {
    if (s.startsWith(prefix)) return withVersion(name, version?.(s));
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------

/**
 * Decodes a peer id (normally 20 bytes; only the leading bytes matter, so shorter ids work
 * too) into "Client version", e.g. "qBittorrent 4.6.5". Unrecognisable ids give 'unknown'.
 */
export function clientNameFromPeerId(peerId: Uint8Array): string {
  if (peerId.length < 2 || peerId.length > 20) return UNKNOWN_CLIENT;
  // latin1 maps each byte to one char, so offsets are byte offsets and ASCII compares work.
  const s = Buffer.from(peerId.buffer, peerId.byteOffset, peerId.length).toString('latin1');
  return decodeCustom(s, peerId) ?? decodeAzureus(s) ?? decodeShadow(s) ?? decodeMainline(s) ?? UNKNOWN_CLIENT;
}
