/**
 * Run by disk-full.test.ts inside a private mount namespace, with DIR (argv[2]) a small tmpfs:
 * the capture store (SQLite + the capture module's BatchWriter settings, shortened delays) and the
 * pcap store on a disk that fills up, then gets space back. Prints one JSON line of figures.
 */
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { NewCapture } from '../../../src/model/capture.js';
import type { Conversation } from '../../../src/pcap/conversation.js';
import { PcapStore } from '../../../src/pcap/pcap-store.js';
import { SqliteCaptureRepository } from '../../../src/store/capture-repository.js';
import { openDatabase } from '../../../src/store/open-database.js';
import { BatchWriter } from '../../../src/util/batch-writer.js';
import type { Logger } from '../../../src/util/logger.js';

const dir = process.argv[2] as string;
const lines: Array<{ level: string; msg: string; store?: unknown }> = [];
const at = (level: string) => (obj: unknown, msg: string) => lines.push({ level, msg, store: (obj as { store?: unknown } | undefined)?.store });
const logger = { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), child: () => logger } as unknown as Logger;

const db = openDatabase(path.join(dir, 'capture.db'), { busyTimeoutMs: 50 });
const repo = new SqliteCaptureRepository(db);
let sinkCalls = 0;
const writer = new BatchWriter<NewCapture>(
  (b) => {
    sinkCalls++;
    repo.insertMany(b);
  },
  { maxBatch: 500, maxDelayMs: 200, maxPending: 50_000, retryDelayMs: 250, maxRetryDelayMs: 1000, name: 'capture store' },
  logger,
);
const pcaps = new PcapStore({ dir: path.join(dir, 'pcap'), retentionDays: 30, retryDelayMs: 250, maxRetryDelayMs: 1000, logger });
const conv: Conversation = {
  local: { ip: '127.0.0.1', port: 40000 },
  remote: { ip: '127.0.0.2', port: 6881 },
  events: [{ kind: 'connect', timeUs: 1 }, { kind: 'data', dir: 'out', timeUs: 2, data: Buffer.alloc(2_000, 1) }],
} as Conversation;

// Fill the disk.
const filler = path.join(dir, 'filler');
const fd = openSync(filler, 'w');
try {
  for (;;) writeSync(fd, Buffer.alloc(16 * 1024));
} catch {
  // ENOSPC: full
}
closeSync(fd);

let n = 0;
let pcapOk = 0;
let pcapFailed = 0;
const add = (): void => {
  writer.add({ foundAt: 1_700_000_000_000 + n, ip: `10.1.${(n >> 8) & 255}.${n & 255}`, port: 6881, infohash: 'ab'.repeat(20), filters: ['f'], error: 'connect timeout' });
  n++;
};
const pcapOnce = (): void => {
  void pcaps.write(conv, { infohash: 'ab'.repeat(20), ip: '127.0.0.2', port: 6881, at: Date.now() }).then(
    () => pcapOk++,
    () => pcapFailed++,
  );
};
const full = { adds: setInterval(add, 5), pcaps: setInterval(pcapOnce, 20) };
await new Promise((r) => setTimeout(r, 3000));
const during = { writer: writer.stats(), sinkCalls, pcap: pcaps.stats(), pcapOk, accepting: writer.accepting() };
// Space comes back (pcaps at a pace that does not fill it again).
rmSync(filler);
clearInterval(full.pcaps);
full.pcaps = setInterval(pcapOnce, 200);
await new Promise((r) => setTimeout(r, 2500));
clearInterval(full.adds);
clearInterval(full.pcaps);
await new Promise((r) => setTimeout(r, 1500));
const after = { writer: writer.stats(), pcap: pcaps.stats(), pcapOk, accepting: writer.accepting() };
writer.close();
const stored = (db.prepare('SELECT count(*) AS c FROM captures').get() as { c: number }).c;
const integrity = db.pragma('integrity_check', { simple: true });
db.close();
process.stdout.write(`${JSON.stringify({ added: n, stored, integrity, during, after, lines, pcapFailed })}\n`);
