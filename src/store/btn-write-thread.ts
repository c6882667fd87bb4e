/**
 * The worker thread of btn-write-worker.ts: BTN submissions written on the thread's own SQLite
 * connection. Calls that arrive while a transaction runs wait and are then written together, in
 * one transaction (one commit for several batches, at most `maxGroupRows` rows); each call is
 * answered after that commit. When any call of a group fails, the group is rolled back and its
 * calls are written again one by one, so one failing batch does not fail the others. Its
 * connection checkpoints inside its commits only when the daemon's does (write-turn.ts): while the
 * WAL checkpoint worker runs, the checkpoints (page copies and syncs, most of a commit's wall time
 * on a busy disk) are the worker's, not this thread's.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { WriteResult } from '../btn/ports.js';
import { SqliteBtnSubmissionRepository } from './btn-submission-repository.js';
import { unpackSwarm } from '../btn/swarm-pack.js';
import type { WriteCall, WriteReply, WriteThreadData } from './btn-write-worker.js';
import { openDatabase } from './open-database.js';
import { WriteTurn } from './write-turn.js';

const data = workerData as WriteThreadData;
const db = openDatabase(data.file, { migrate: false, busyTimeoutMs: data.busyTimeoutMs, synchronous: data.synchronous });
const repo = new SqliteBtnSubmissionRepository(db);
// The turn shared with the daemon's event loop (write-turn.ts): held for each transaction (a group,
// or its calls one by one after it failed), so the capture writer never meets this thread in SQLite's lock.
const turn = data.turn ? new WriteTurn(data.turn) : undefined;
const port = parentPort;
const queue: WriteCall[] = [];
/** SQLite's automatic checkpoint on this connection as last set (undefined: SQLite's default, 1,000 pages). */
let autoCheckpoint: number | undefined;
let scheduled = false;
let closing = false;

function rowsOf(call: WriteCall): number {
  if (call.method === 'putSwarm') return call.args[2].n;
  if (call.method === 'putBans') return call.args[2].length;
  return call.method === 'putHistories' ? call.args[1].length : 1;
}

function exec(call: WriteCall): WriteResult | undefined {
  switch (call.method) {
    case 'putSwarm': {
      const [app, submitId, packed, now] = call.args;
      return repo.putSwarm(app, submitId, unpackSwarm(packed), now);
    }
    case 'putBans':
      return repo.putBans(...call.args);
    case 'putHistories':
      return repo.putHistories(...call.args);
    case 'putHeartbeat':
      repo.putHeartbeat(...call.args);
      return undefined;
    case 'discover':
      repo.discover(...call.args);
      return undefined;
    case 'ping':
      return undefined;
  }
}

function failure(id: number, err: unknown): WriteReply {
  const e = err as { code?: unknown; message?: unknown; name?: unknown };
  return { id, ok: false, code: typeof e.code === 'string' ? e.code : undefined, name: String(e.name ?? 'Error'), message: String(e.message ?? err) };
}

function one(call: WriteCall): WriteReply {
  try {
    return { id: call.id, ok: true, value: exec(call), commit: 1 };
  } catch (err) {
    return failure(call.id, err);
  }
}

function flush(): void {
  scheduled = false;
  const group: WriteCall[] = [];
  let rows = 0;
  while (queue.length > 0 && (group.length === 0 || rows + rowsOf(queue[0] as WriteCall) <= data.maxGroupRows)) {
    const call = queue.shift() as WriteCall;
    rows += rowsOf(call);
    group.push(call);
  }
  let replies: WriteReply[];
  turn?.take();
  // The daemon's connection's setting (0 while the checkpoint worker runs: no checkpoint, with its
  // copies and syncs, inside this thread's commits; 1,000 again when it falls back).
  const pages = turn?.autoCheckpointChanged(autoCheckpoint);
  if (pages !== undefined) {
    db.pragma(`wal_autocheckpoint = ${pages}`);
    autoCheckpoint = pages;
  }
  const t0 = performance.now();
  try {
    replies = repo.group(() => {
      const values = group.map((c) => exec(c));
      // Test hook (test/integration/btn-write-worker.test.ts): the thread dies in the open transaction.
      if (data.faults?.exitInTransaction) process.exit(70);
      // Test hook (test/integration/btn-capture-lock.test.ts): a transaction that holds the write lock long.
      if (data.faults?.holdInTransactionMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, data.faults.holdInTransactionMs);
      return values.map((value, i): WriteReply => ({ id: (group[i] as WriteCall).id, ok: true, value, ...(i === 0 ? { commit: group.length } : {}) }));
    });
    const first = replies[0];
    if (first?.ok) first.txMs = performance.now() - t0;
  } catch (err) {
    replies = group.length === 1 ? [failure((group[0] as WriteCall).id, err)] : group.map(one);
  } finally {
    turn?.release();
  }
  for (const r of replies) port?.postMessage(r);
  if (queue.length > 0) schedule();
  else if (closing) close();
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  // setImmediate: calls posted meanwhile are received first and join the next group.
  setImmediate(flush);
}

function close(): void {
  db.close();
  port?.close();
}

port?.on('message', (msg: WriteCall | { method: 'close' }) => {
  if (msg.method === 'close') {
    closing = true;
    if (!scheduled && queue.length === 0) close();
    return;
  }
  queue.push(msg);
  schedule();
});
