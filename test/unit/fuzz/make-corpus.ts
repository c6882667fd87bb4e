/**
 * Seeds of the fuzz corpus (test/fixtures/fuzz/): well-formed inputs for each decoder, written once
 * and kept, so mutations start from the real shapes. Regenerate: `node --import tsx test/unit/fuzz/make-corpus.ts`.
 * Inputs that once broke a decoder are added to the corpus by hand (named after what they broke).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import bencode from 'bencode';

const DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/fuzz');
const id = Buffer.alloc(20, 0xab);
const seeds: Record<string, Buffer> = {
  'krpc-ping.bin': Buffer.from(bencode.encode({ t: 'aa', y: 'q', q: 'ping', a: { id } })),
  'krpc-get-peers-reply.bin': Buffer.from(bencode.encode({ t: 'bb', y: 'r', r: { id, token: 'tok', values: [Buffer.alloc(6, 1), Buffer.alloc(6, 2)], nodes: Buffer.alloc(26 * 2, 3) } })),
  'krpc-error.bin': Buffer.from(bencode.encode({ t: 'cc', y: 'e', e: [201, 'A Generic Error Ocurred'] })),
  'ext-handshake.bin': Buffer.from(bencode.encode({ m: { ut_metadata: 3, ut_pex: 1 }, metadata_size: 31235, v: 'qBittorrent 4.6.0', reqq: 500, p: 6881 })),
  'ut-metadata-data.bin': Buffer.concat([Buffer.from(bencode.encode({ msg_type: 1, piece: 0, total_size: 100 })), Buffer.alloc(100, 0x64)]),
  'ut-metadata-request.bin': Buffer.from(bencode.encode({ msg_type: 0, piece: 0 })),
  'torrent-multi.torrent': Buffer.from(
    bencode.encode({
      announce: 'http://127.0.0.1/announce',
      info: { files: [{ length: 40000, path: ['a', 'b.bin'] }, { length: 25536, path: ['c.txt'] }], name: 'dir', 'piece length': 16384, pieces: Buffer.alloc(80, 7) },
    }),
  ),
  'torrent-v2.torrent': Buffer.from(bencode.encode({ info: { 'file tree': { a: { '': { length: 20000 } } }, 'meta version': 2, name: 'x', 'piece length': 16384 } })),
  // A handshake, a bitfield, two HAVEs, an extended handshake, a piece: a wire stream.
  'wire-stream.bin': Buffer.concat([
    Buffer.from([19]), Buffer.from('BitTorrent protocol'), Buffer.from([0, 0, 0, 0, 0, 0x10, 0, 5]), id, id,
    Buffer.from([0, 0, 0, 2, 5, 0xf0]),
    Buffer.from([0, 0, 0, 5, 4, 0, 0, 0, 1]), Buffer.from([0, 0, 0, 5, 4, 0, 0, 0, 2]),
    Buffer.from([0, 0, 0, 12, 20, 0]), Buffer.from('d1:md1:xi1eee'.slice(0, 10)),
    Buffer.from([0, 0, 0, 13, 7, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]),
  ]),
};
mkdirSync(DIR, { recursive: true });
for (const [name, buf] of Object.entries(seeds)) writeFileSync(path.join(DIR, name), buf);
console.log(`wrote ${Object.keys(seeds).length} seeds to ${DIR}`);
