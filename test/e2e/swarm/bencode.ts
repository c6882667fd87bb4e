/**
 * A small, strict bencoder for the e2e harness (independent of the daemon's own code, so the
 * harness does not test the daemon with itself). Byte strings decode to Buffer, dictionary keys
 * to latin1 strings (exact bytes round-trip).
 */

export type BValue = number | Buffer | string | BValue[] | { [key: string]: BValue };

export function bencode(v: BValue): Buffer {
  const out: Buffer[] = [];
  const enc = (x: BValue): void => {
    if (typeof x === 'number') {
      if (!Number.isInteger(x)) throw new TypeError(`bencode: not an integer: ${x}`);
      out.push(Buffer.from(`i${x}e`));
    } else if (typeof x === 'string' || Buffer.isBuffer(x)) {
      const b = typeof x === 'string' ? Buffer.from(x, 'utf8') : x;
      out.push(Buffer.from(`${b.length}:`), b);
    } else if (Array.isArray(x)) {
      out.push(Buffer.from('l'));
      x.forEach(enc);
      out.push(Buffer.from('e'));
    } else {
      out.push(Buffer.from('d'));
      const keys = Object.keys(x).sort((a, b) => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1')));
      for (const k of keys) {
        const kb = Buffer.from(k, 'latin1');
        out.push(Buffer.from(`${kb.length}:`), kb);
        enc(x[k] as BValue);
      }
      out.push(Buffer.from('e'));
    }
  };
  enc(v);
  return Buffer.concat(out);
}

export function bdecode(buf: Buffer): BValue {
  let i = 0;
  const dec = (): BValue => {
    const c = buf[i];
    if (c === undefined) throw new Error('bdecode: truncated');
    if (c === 0x69 /* i */) {
      const e = buf.indexOf(0x65, i);
      if (e < 0) throw new Error('bdecode: bad int');
      const n = Number(buf.subarray(i + 1, e).toString('latin1'));
      if (!Number.isInteger(n)) throw new Error('bdecode: bad int');
      i = e + 1;
      return n;
    }
    if (c === 0x6c /* l */) {
      i++;
      const l: BValue[] = [];
      while (buf[i] !== 0x65) {
        if (i >= buf.length) throw new Error('bdecode: truncated list');
        l.push(dec());
      }
      i++;
      return l;
    }
    if (c === 0x64 /* d */) {
      i++;
      const d: { [key: string]: BValue } = {};
      while (buf[i] !== 0x65) {
        if (i >= buf.length) throw new Error('bdecode: truncated dict');
        const k = dec();
        if (!Buffer.isBuffer(k)) throw new Error('bdecode: dict key not a string');
        d[k.toString('latin1')] = dec();
      }
      i++;
      return d;
    }
    const colon = buf.indexOf(0x3a, i);
    if (colon < 0) throw new Error('bdecode: bad string');
    const len = Number(buf.subarray(i, colon).toString('latin1'));
    if (!Number.isInteger(len) || len < 0 || colon + 1 + len > buf.length) throw new Error('bdecode: bad string length');
    const s = buf.subarray(colon + 1, colon + 1 + len);
    i = colon + 1 + len;
    return Buffer.from(s);
  };
  const v = dec();
  return v;
}

export function isDict(v: BValue | undefined): v is { [key: string]: BValue } {
  return typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && !Array.isArray(v);
}
