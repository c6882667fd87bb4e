/**
 * The worker thread of metainfo-pool.ts: parses a .torrent file or a BEP 9 info dictionary off the
 * daemon's event loop and answers with the metadata (files as the JSON the store keeps, the info
 * dictionary's bytes transferred), or with the error's code and message.
 */
import { parentPort } from 'node:worker_threads';
import { parseInfoDictionary, parseTorrentFile } from './metainfo.js';
import type { WorkerReply, WorkerJob } from './metainfo-pool.js';

parentPort?.on('message', (job: WorkerJob) => {
  let reply: WorkerReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const bytes = new Uint8Array(job.bytes);
    const meta = job.kind === 'torrent' ? parseTorrentFile(bytes) : parseInfoDictionary(bytes);
    const info = new Uint8Array(meta.info.length);
    info.set(meta.info);
    reply = {
      id: job.id,
      ok: true,
      meta: {
        infohash: meta.infohash, name: meta.name, totalSize: meta.totalSize, pieceLength: meta.pieceLength, pieceCount: meta.pieceCount,
        filesJson: JSON.stringify(meta.files), info: info.buffer,
      },
    };
    transfer = [info.buffer];
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    reply = { id: job.id, ok: false, code: typeof e.code === 'string' ? e.code : undefined, message: String(e.message ?? err) };
  }
  parentPort?.postMessage(reply, transfer);
});
