import { formatApiDate } from '../model/api-date.js';
import { writeSafeInt } from '../util/write-safe-int.js';
import type { CaptureRow, PeerPage } from '../store/capture-repository.js';

const DAY_MS = 86_400_000;
/** Where formatApiDate's fast path (and so the byte writer's) applies: years 0000-9999. */
const FAST_MIN = -62_167_219_200_000;
const FAST_END = 253_402_300_800_000;
/** First guess of the bytes a peer takes (a page of 1,000 is ~270 KiB); the buffer grows when short. */
const BYTES_PER_PEER = 320;

const ascii = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const K = {
  head: ascii('{"from":'),
  to: ascii(',"to":'),
  hasMoreTrue: ascii(',"hasMore":true,"peers":['),
  hasMoreFalse: ascii(',"hasMore":false,"peers":['),
  tail: ascii(']}'),
  date: ascii('{"date":'),
  ip: ascii(',"ip":'),
  port: ascii(',"port":'),
  infohash: ascii(',"infohash":'),
  countryCode: ascii(',"countryCode":'),
  city: ascii(',"city":'),
  isp: ascii(',"isp":'),
  report: ascii(',"captureReport":{"date":'),
  totalPieces: ascii(',"totalPiecesInTorrent":'),
  hasTotalTrue: ascii(',"hasTotal":true,"hasPieces":'),
  hasTotalFalse: ascii(',"hasTotal":false,"hasPieces":'),
  clientName: ascii(',"clientName":'),
  hostIdentifier: ascii(',"hostIdentifier":'),
  note: ascii(',"note":'),
  reportEnd: ascii('}'),
  error: ascii(',"error":'),
  pcap: ascii(',"pcap":"/capture/pcap/?id='),
  pcapEnd: ascii('"'),
  empty: ascii('""'),
  unknownError: ascii('"unknown error"'),
};

/**
 * JSON text written straight into bytes: what JSON.stringify of the same values gives, byte for
 * byte, without the intermediate objects, the 300 KB string and its UTF-8 encoding (a page of
 * 1,000 peers built as objects, stringified and encoded cost ~2.3 ms of CPU; this ~0.5 ms).
 * Strings of plain ASCII (no quote, backslash or control character) are copied byte by byte; any
 * other string goes through JSON.stringify itself, so escaping is JSON.stringify's own.
 */
class JsonBytes {
  buf: Buffer;
  off = 0;
  private day = Number.NaN;
  /** "YYYY-MM-DDT" of `day`. */
  private readonly dayPrefix = Buffer.alloc(11);

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** Room for `n` more bytes. */
  room(n: number): void {
    if (this.off + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.off + n));
    this.buf.copy(bigger, 0, 0, this.off);
    this.buf = bigger;
  }

  raw(b: Uint8Array): void {
    this.room(b.length);
    const buf = this.buf;
    let off = this.off;
    for (let i = 0; i < b.length; i++) buf[off++] = b[i] as number;
    this.off = off;
  }

  /** A number as JSON.stringify writes it. */
  num(n: number): void {
    if (!Number.isSafeInteger(n)) {
      const s = JSON.stringify(n);
      this.room(s.length);
      this.off += this.buf.write(s, this.off, 'latin1');
      return;
    }
    this.room(17);
    this.off = writeSafeInt(this.buf, this.off, n);
  }

  /**
   * A string as JSON.stringify writes it (quoted and escaped), UTF-8. Characters that need no escape
   * are encoded here (1-3 bytes); a quote, backslash, control character or surrogate sends the whole
   * string through JSON.stringify instead.
   */
  str(s: string): void {
    const len = s.length;
    this.room(len * 3 + 2);
    const buf = this.buf;
    let off = this.off;
    buf[off++] = 34; // '"'
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c < 128) {
        if (c < 32 || c === 34 || c === 92) return this.strSlow(s);
        buf[off++] = c;
      } else if (c < 0x800) {
        buf[off++] = 0xc0 | (c >> 6);
        buf[off++] = 0x80 | (c & 63);
      } else if (c >= 0xd800 && c <= 0xdfff) {
        return this.strSlow(s);
      } else {
        buf[off++] = 0xe0 | (c >> 12);
        buf[off++] = 0x80 | ((c >> 6) & 63);
        buf[off++] = 0x80 | (c & 63);
      }
    }
    buf[off++] = 34;
    this.off = off;
  }

  /** Any string: JSON.stringify's escaping, then UTF-8. */
  private strSlow(s: string): void {
    const j = JSON.stringify(s);
    this.room(j.length * 3);
    this.off += this.buf.write(j, this.off, 'utf8');
  }

  /** A date as the Capture API writes it (formatApiDate), quoted. */
  date(ms: number): void {
    if (!Number.isInteger(ms) || ms < FAST_MIN || ms >= FAST_END) return this.str(formatApiDate(ms));
    const day = Math.floor(ms / DAY_MS);
    if (day !== this.day) {
      this.dayPrefix.write(formatApiDate(day * DAY_MS).slice(0, 11), 'latin1');
      this.day = day;
    }
    this.room(30);
    const buf = this.buf;
    let off = this.off;
    buf[off++] = 34;
    const prefix = this.dayPrefix;
    for (let i = 0; i < 11; i++) buf[off++] = prefix[i] as number;
    // Below 86,400,000: int32 arithmetic.
    const t = ms - day * DAY_MS;
    const milli = t % 1000;
    const secs = (t - milli) / 1000;
    const sec = secs % 60;
    const mins = (secs - sec) / 60;
    const min = mins % 60;
    const hour = (mins - min) / 60;
    buf[off++] = 48 + ((hour / 10) | 0);
    buf[off++] = 48 + (hour % 10);
    buf[off++] = 58; // ':'
    buf[off++] = 48 + ((min / 10) | 0);
    buf[off++] = 48 + (min % 10);
    buf[off++] = 58;
    buf[off++] = 48 + ((sec / 10) | 0);
    buf[off++] = 48 + (sec % 10);
    buf[off++] = 46; // '.'
    buf[off++] = 48 + ((milli / 100) | 0);
    buf[off++] = 48 + (((milli / 10) | 0) % 10);
    buf[off++] = 48 + (milli % 10);
    buf[off++] = 43; // '+'
    buf[off++] = 48;
    buf[off++] = 48;
    buf[off++] = 48;
    buf[off++] = 48;
    buf[off++] = 34;
    this.off = off;
  }

  /** A string or "" when absent. */
  strOrEmpty(s: string | null): void {
    if (s === null) this.raw(K.empty);
    else this.str(s);
  }

  /** One peer: the same keys, order and values as rowToPeerJson (src/api-shape/peer-json.ts). */
  peer(r: CaptureRow): void {
    this.raw(K.date);
    this.date(r[1]);
    this.raw(K.ip);
    this.str(r[2]);
    this.raw(K.port);
    this.num(r[3]);
    this.raw(K.infohash);
    this.str(r[4]);
    this.raw(K.countryCode);
    this.strOrEmpty(r[5]);
    this.raw(K.city);
    this.strOrEmpty(r[6]);
    this.raw(K.isp);
    this.strOrEmpty(r[7]);
    if (r[8] !== null) {
      this.raw(K.report);
      this.date(r[8]);
      this.raw(K.totalPieces);
      this.num(r[9] ?? 0);
      this.raw(r[11] === 1 ? K.hasTotalTrue : K.hasTotalFalse);
      this.num(r[10] ?? 0);
      this.raw(K.clientName);
      this.strOrEmpty(r[12]);
      this.raw(K.hostIdentifier);
      this.strOrEmpty(r[13]);
      if (r[16] !== null) {
        this.raw(K.note);
        this.str(r[16]);
      }
      this.raw(K.reportEnd);
    } else {
      this.raw(K.error);
      if (r[14] === null) this.raw(K.unknownError);
      else this.str(r[14]);
    }
    if (r[15] !== null) {
      this.raw(K.pcap);
      this.num(r[0]);
      this.raw(K.pcapEnd);
    }
    this.room(1);
    this.buf[this.off++] = 125; // '}'
  }
}

/**
 * The body of GET /capture/peers/all/ as UTF-8 bytes: exactly
 * `JSON.stringify({ from, to, hasMore, peers: page.peers.map(rowToPeerJson) })`, encoded.
 */
export function peerPageJson(page: PeerPage): Buffer {
  const peers = page.peers;
  const w = new JsonBytes(64 + peers.length * BYTES_PER_PEER);
  w.raw(K.head);
  w.num(page.from);
  w.raw(K.to);
  w.num(page.to);
  w.raw(page.hasMore ? K.hasMoreTrue : K.hasMoreFalse);
  for (let i = 0; i < peers.length; i++) {
    if (i > 0) {
      w.room(1);
      w.buf[w.off++] = 44; // ','
    }
    w.peer(peers[i] as CaptureRow);
  }
  w.raw(K.tail);
  return w.buf.subarray(0, w.off);
}
