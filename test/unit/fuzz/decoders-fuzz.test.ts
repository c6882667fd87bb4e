/**
 * Property-based fuzzing (fast-check) of every decoder that reads bytes a stranger controls: the
 * KRPC decoder, the wire frame reader, the extended handshake, ut_metadata messages and the
 * metainfo parser. Inputs are random bytes and mutations (flips, cuts, insertions, splices) of the
 * kept corpus in test/fixtures/fuzz/. Each property: no hang, no unexpected exception type, results
 * within the documented limits.
 *
 * CI runs a short pass (FUZZ_RUNS, default 300 per decoder); a long run:
 * `FUZZ_RUNS=200000 npx vitest run test/unit/fuzz`. A failure prints the seed and the shrunk input:
 * add that input to the corpus.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CaptureError } from '../../../src/capture/capture-errors.js';
import { FrameReader, READER_BOUND_BYTES } from '../../../src/capture/frame-reader.js';
import { MetadataFetch, peerUtMetadataId } from '../../../src/capture/metadata-fetch.js';
import { decodeKrpc } from '../../../src/dht/krpc-codec.js';
import { decodeDictPrefix } from '../../../src/protocol/bencode-check.js';
import { METAINFO_LIMITS, parseInfoDictionary, parseTorrentFile } from '../../../src/protocol/metainfo.js';
import { AppError } from '../../../src/util/app-error.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const CORPUS_DIR = path.resolve('test/fixtures/fuzz');
const corpus = (prefix: string): Buffer[] =>
  readdirSync(CORPUS_DIR)
    .filter((f) => f.startsWith(prefix))
    .map((f) => readFileSync(path.join(CORPUS_DIR, f)));

/** Random bytes, or a corpus seed mutated 1–8 times. */
function inputs(seeds: Buffer[]): fc.Arbitrary<Buffer> {
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 16 }) }),
    fc.record({ kind: fc.constant('dup' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }), times: fc.integer({ min: 1, max: 50 }) }),
  );
  const mutated = fc.tuple(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 8 })).map(([seed, ms]) => {
    let b = Buffer.from(seed);
    for (const m of ms) {
      const at = b.length === 0 ? 0 : m.at % (b.length + 1);
      if (m.kind === 'flip' && b.length > 0) b[at % b.length] = m.byte;
      else if (m.kind === 'cut') b = b.subarray(0, at);
      else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
      else if (m.kind === 'dup') {
        const part = b.subarray(at, at + m.len);
        b = Buffer.concat([b.subarray(0, at), ...Array<Buffer>(m.times).fill(part), b.subarray(at)]);
      }
    }
    return b;
  });
  return fc.oneof({ weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((u) => Buffer.from(u)) }, { weight: 4, arbitrary: mutated });
}

const timed = <T>(fn: () => T): T => {
  const t0 = performance.now();
  const r = fn();
  expect(performance.now() - t0).toBeLessThan(1000);
  return r;
};

describe('fuzz: decoders of untrusted bytes', () => {
  it('KRPC decoder: a value or a RangeError "bencode: …", never a hang', () => {
    fc.assert(
      fc.property(inputs(corpus('krpc-')), (buf) => {
        try {
          timed(() => decodeKrpc(buf));
        } catch (err) {
          expect(err).toBeInstanceOf(RangeError);
          expect((err as Error).message).toMatch(/^bencode: /);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('metainfo parser: metadata within the limits, or INVALID_TORRENT', () => {
    fc.assert(
      fc.property(inputs(corpus('torrent-')), (buf) => {
        for (const parse of [parseTorrentFile, parseInfoDictionary]) {
          try {
            const meta = timed(() => parse(buf));
            expect(meta.infohash).toMatch(/^[0-9a-f]{40}$/);
            expect(meta.pieceCount).toBeLessThanOrEqual(METAINFO_LIMITS.maxPieces);
            expect(meta.totalSize).toBeLessThanOrEqual(METAINFO_LIMITS.maxTotalSize);
            expect(meta.files.length).toBeLessThanOrEqual(METAINFO_LIMITS.maxFiles);
            expect(meta.pieceCount).toBe(Math.ceil(meta.totalSize / meta.pieceLength));
          } catch (err) {
            expect(err).toBeInstanceOf(AppError);
            expect((err as AppError).code).toBe('INVALID_TORRENT');
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('extended handshake: a dictionary (ut_metadata id 1–255 or none) or undefined, never an exception', () => {
    fc.assert(
      fc.property(inputs(corpus('ext-handshake')), (buf) => {
        const decoded = timed(() => decodeDictPrefix(buf));
        if (decoded === undefined) return;
        expect(decoded.end).toBeLessThanOrEqual(buf.length);
        expect(Object.getPrototypeOf(decoded.dict)).toBe(Object.prototype);
        const id = peerUtMetadataId(decoded.dict);
        if (id !== undefined) expect(id >= 1 && id <= 255).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('ut_metadata: any sequence of messages ends the fetch at most once, without an internal error', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40_000 }), fc.array(inputs(corpus('ut-metadata')), { maxLength: 12 }), (size, messages) => {
        const results: Array<{ ok: boolean; error?: string }> = [];
        const fetch = new MetadataFetch({ infohash: '00'.repeat(20), maxBytes: 10 * 1024 * 1024, send: () => undefined, onDone: (r) => results.push(r as { ok: boolean; error?: string }) });
        fetch.start({ m: { ut_metadata: 1 }, metadata_size: size });
        for (const m of messages) timed(() => fetch.onMessage(m));
        expect(results.length).toBeLessThanOrEqual(1);
        for (const r of results) {
          expect(r.ok).toBe(false); // the infohash is all zeros: no payload can match it
          expect(r.error).not.toMatch(/internal error/);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('wire frame reader: frames or a CaptureError, memory bounded, whatever the chunking', () => {
    fc.assert(
      fc.property(inputs(corpus('wire-')), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }), (stream, cuts) => {
        const reader = new FrameReader(1024 * 1024);
        let at = 0;
        let i = 0;
        try {
          while (at < stream.length) {
            const n = cuts[i++ % cuts.length] as number;
            reader.append(stream.subarray(at, at + n));
            at += n;
            for (let f = reader.next(); f !== undefined; f = reader.next()) {
              expect(['handshake', 'message', 'have', 'skipped']).toContain(f.kind);
            }
            expect(reader.pending).toBeLessThanOrEqual(READER_BOUND_BYTES);
          }
        } catch (err) {
          expect(err).toBeInstanceOf(CaptureError);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
