/**
 * Bencode for KRPC datagrams, on the DHT socket's hot path. bencode 4 (the project's general codec)
 * returns Uint8Arrays that the DHT layers cannot use (they call Buffer methods), so every decoded
 * packet needed a second pass, and its encoder costs ~12 µs per reply; this one decodes straight to
 * zero-copy Buffer views and encodes in two passes into one exact-size Buffer (see bench/krpc-rate.ts).
 * - decode: byte strings → Buffer views of the packet; integers → number; dict keys → latin1
 *   strings (a `__proto__` key is dropped); nesting capped; malformed input throws RangeError;
 *   bytes after the first value are ignored.
 * - encode: Buffer/Uint8Array, string (UTF-8), integer, array, plain object (keys in byte order;
 *   null/undefined values skipped).
 */
const MAX_DEPTH = 32;

class Decoder {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  fail(what: string): never {
    throw new RangeError(`bencode: ${what} at ${this.pos}`);
  }

  /** Reads digits up to `end`; returns the number. */
  private int(end: number, allowSign: boolean): number {
    const b = this.buf;
    let neg = false;
    if (allowSign && b[this.pos] === 0x2d) {
      neg = true;
      this.pos++;
    }
    const start = this.pos;
    let n = 0;
    while (this.pos < b.length && b[this.pos] !== end) {
      const c = b[this.pos]! - 0x30;
      if (c < 0 || c > 9) this.fail('bad digit');
      n = n * 10 + c;
      this.pos++;
    }
    if (this.pos === start || this.pos >= b.length) this.fail('bad integer');
    this.pos++; // the terminator
    return neg ? -n : n;
  }

  private string(): Buffer {
    const len = this.int(0x3a /* : */, false);
    const end = this.pos + len;
    if (end > this.buf.length) this.fail('string past end');
    const s = this.buf.subarray(this.pos, end);
    this.pos = end;
    return s;
  }

  value(depth: number): unknown {
    if (depth > MAX_DEPTH) this.fail('nesting too deep');
    const b = this.buf;
    const c = b[this.pos];
    if (c === undefined) this.fail('unexpected end');
    if (c === 0x69 /* i */) {
      this.pos++;
      return this.int(0x65 /* e */, true);
    }
    if (c === 0x6c /* l */) {
      this.pos++;
      const list: unknown[] = [];
      while (b[this.pos] !== 0x65) {
        if (this.pos >= b.length) this.fail('unterminated list');
        list.push(this.value(depth + 1));
      }
      this.pos++;
      return list;
    }
    if (c === 0x64 /* d */) {
      this.pos++;
      const dict: Record<string, unknown> = {};
      while (b[this.pos] !== 0x65) {
        if (this.pos >= b.length) this.fail('unterminated dictionary');
        const key = this.string().toString('latin1');
        const v = this.value(depth + 1);
        if (key !== '__proto__') dict[key] = v;
      }
      this.pos++;
      return dict;
    }
    if (c >= 0x30 && c <= 0x39) return this.string();
    return this.fail('unexpected byte');
  }
}

export function decodeKrpc(buf: Buffer): unknown {
  return new Decoder(buf).value(0);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function digits(n: number): number {
  let d = n < 0 ? 2 : 1;
  let x = Math.abs(n);
  while (x >= 10) {
    x = Math.floor(x / 10);
    d++;
  }
  return d;
}

function sortedKeys(o: Record<string, unknown>): string[] {
  const keys: string[] = [];
  for (const k in o) if (o[k] !== undefined && o[k] !== null) keys.push(k);
  return keys.sort();
}

function size(v: unknown, depth: number): number {
  if (depth > MAX_DEPTH) throw new RangeError('bencode: nesting too deep');
  if (v instanceof Uint8Array) return digits(v.length) + 1 + v.length;
  if (typeof v === 'string') {
    const n = Buffer.byteLength(v);
    return digits(n) + 1 + n;
  }
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new RangeError('bencode: cannot encode a non-finite number');
    return 2 + digits(Math.trunc(v));
  }
  if (Array.isArray(v)) {
    let n = 2;
    for (const x of v) n += size(x, depth + 1);
    return n;
  }
  if (isPlainObject(v)) {
    let n = 2;
    for (const k of sortedKeys(v)) n += size(k, depth + 1) + size(v[k], depth + 1);
    return n;
  }
  throw new RangeError(`bencode: cannot encode ${typeof v}`);
}

function write(v: unknown, out: Buffer, pos: number): number {
  if (v instanceof Uint8Array) {
    pos += out.write(`${v.length}:`, pos, 'latin1');
    out.set(v, pos);
    return pos + v.length;
  }
  if (typeof v === 'string') {
    pos += out.write(`${Buffer.byteLength(v)}:`, pos, 'latin1');
    return pos + out.write(v, pos, 'utf8');
  }
  if (typeof v === 'number') return pos + out.write(`i${Math.trunc(v)}e`, pos, 'latin1');
  if (Array.isArray(v)) {
    out[pos++] = 0x6c;
    for (const x of v) pos = write(x, out, pos);
    out[pos++] = 0x65;
    return pos;
  }
  const o = v as Record<string, unknown>;
  out[pos++] = 0x64;
  for (const k of sortedKeys(o)) {
    pos = write(k, out, pos);
    pos = write(o[k], out, pos);
  }
  out[pos++] = 0x65;
  return pos;
}

export function encodeKrpc(value: unknown): Buffer {
  const out = Buffer.allocUnsafe(size(value, 0));
  const end = write(value, out, 0);
  if (end !== out.length) throw new RangeError('bencode: size mismatch');
  return out;
}
