import bencode from 'bencode';

/**
 * Strict bencode syntax check, run on every peer-supplied bencode before `bencode.decode`.
 *
 * Why: bencode 4's decoder trusts string lengths. A negative one (`d-3:`) moves its cursor
 * backwards and `bencode.decode` loops forever: six bytes in an extended handshake or a BEP 9
 * message would hang the event loop (bittorrent-protocol decodes extended handshakes with it).
 * Deep nesting overflows its recursive descent. This scanner is iterative, bounds the depth, and
 * rejects anything the decoder could mis-step on.
 *
 * It also rejects dictionary keys named `__proto__`: bencode assigns them with `dict[key] =`,
 * which replaces the dictionary's prototype. bittorrent-protocol then calls `toString()` on
 * values of the extended handshake's `m`; `d1:md1:xd9:__proto__0:eeee` makes that throw inside
 * the Wire's write path (an uncaught exception that ends the process).
 */

const D = 0x64; // 'd'
const L = 0x6c; // 'l'
const I = 0x69; // 'i'
const E = 0x65; // 'e'
const COLON = 0x3a;
const MINUS = 0x2d;

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x39;

const PROTO = Buffer.from('__proto__', 'latin1');
/** bencode assigns a `__proto__` key as a prototype: no legitimate peer sends one. */
function isProtoKey(buf: Uint8Array, at: number, length: number): boolean {
  return length === PROTO.length && PROTO.equals(buf.subarray(at, at + length));
}

/** Container states on the scanner's stack. */
const LIST = 0;
const DICT_KEY = 1; // a dictionary expecting a key (or its end)
const DICT_VALUE = 2; // a dictionary expecting the value of the key just read

/** Default nesting bound: real extended handshakes and info dictionaries nest 3–6 deep. */
export const MAX_BENCODE_DEPTH = 64;

/**
 * Offset just past the first complete bencoded value starting at `start`, or -1 when the bytes
 * are not well-formed bencode (or are truncated). Bytes after the value are not looked at.
 */
export function bencodeEnd(buf: Uint8Array, start = 0, maxDepth = MAX_BENCODE_DEPTH): number {
  const stack: number[] = [];
  const n = buf.length;
  let i = start;
  for (;;) {
    if (i >= n) return -1;
    const c = buf[i] as number;
    const top = stack.length > 0 ? (stack[stack.length - 1] as number) : -1;
    if (c === E) {
      if (top === -1 || top === DICT_VALUE) return -1; // stray end, or a key without a value
      stack.pop();
      i += 1;
    } else if (top === DICT_KEY && !isDigit(c)) {
      return -1; // dictionary keys are byte strings
    } else if (c === D || c === L) {
      if (stack.length >= maxDepth) return -1;
      stack.push(c === D ? DICT_KEY : LIST);
      i += 1;
      continue; // the container is not complete yet
    } else if (c === I) {
      let j = i + 1;
      if (buf[j] === MINUS) j += 1;
      const digitsStart = j;
      while (isDigit(buf[j])) j += 1;
      if (j === digitsStart || buf[j] !== E) return -1;
      i = j + 1;
    } else if (isDigit(c)) {
      let j = i;
      let length = 0;
      while (isDigit(buf[j])) {
        length = length * 10 + ((buf[j] as number) - 0x30);
        j += 1;
        if (j - i > 9) return -1; // ≥ 1 GB: no peer message is that long
      }
      if (buf[j] !== COLON) return -1;
      j += 1;
      if (length > n - j) return -1;
      if (top === DICT_KEY && isProtoKey(buf, j, length)) return -1;
      i = j + length;
    } else {
      return -1;
    }
    // A value is complete: advance the enclosing container, or finish at the top level.
    if (stack.length === 0) return i;
    const parent = stack[stack.length - 1] as number;
    if (parent === DICT_KEY) stack[stack.length - 1] = DICT_VALUE;
    else if (parent === DICT_VALUE) stack[stack.length - 1] = DICT_KEY;
  }
}

export type BencodeDict = Record<string, unknown>;

/**
 * Decodes the bencoded dictionary at the start of `buf` after checking it with `bencodeEnd`.
 * Returns the dictionary and where it ended (BEP 9 messages carry raw bytes after it), or
 * undefined when `buf` does not start with a well-formed dictionary.
 */
export function decodeDictPrefix(buf: Uint8Array, maxDepth = MAX_BENCODE_DEPTH): { dict: BencodeDict; end: number } | undefined {
  if (buf[0] !== D) return undefined;
  const end = bencodeEnd(buf, 0, maxDepth);
  if (end < 0) return undefined;
  try {
    const dict = bencode.decode(buf, 0, end) as BencodeDict;
    return { dict, end };
  } catch {
    return undefined;
  }
}

/** Own (not inherited: bencode assigns `__proto__` keys as-is) property of a decoded dict. */
export function own(dict: BencodeDict, key: string): unknown {
  return Object.hasOwn(dict, key) ? dict[key] : undefined;
}
