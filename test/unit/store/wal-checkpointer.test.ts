import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { CheckpointWorkerCommand, CheckpointWorkerMessage } from '../../../src/store/wal-checkpoint-worker.js';
import { WalCheckpointer, type CheckpointWorkerLike } from '../../../src/store/wal-checkpointer.js';
import type { Logger } from '../../../src/util/logger.js';

/** A worker that answers as the test says: messages in, 'exit' when told. */
class FakeWorker extends EventEmitter implements CheckpointWorkerLike {
  readonly received: CheckpointWorkerCommand[] = [];
  postMessage(m: CheckpointWorkerCommand): void {
    this.received.push(m);
    if (m.kind === 'stop') setImmediate(() => this.emit('exit', 0));
  }
  terminate(): Promise<number> {
    this.emit('exit', 1);
    return Promise.resolve(1);
  }
  say(m: CheckpointWorkerMessage): void {
    this.emit('message', m);
  }
}

function recordingLogger(): { logger: Logger; lines: Array<{ level: string; msg: string; fields: unknown }> } {
  const lines: Array<{ level: string; msg: string; fields: unknown }> = [];
  const at = (level: string) => (fields: unknown, msg?: string) => lines.push({ level, msg: msg ?? String(fields), fields });
  const logger = { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), trace: at('trace'), fatal: at('fatal'), child: () => logger } as unknown as Logger;
  return { logger, lines };
}

function setup(walMaxBytes = 64 * 2 ** 20): { cp: WalCheckpointer; worker: FakeWorker; autocheckpoint: number[]; lines: ReturnType<typeof recordingLogger>['lines']; spawned: FakeWorker[] } {
  const autocheckpoint: number[] = [];
  const spawned: FakeWorker[] = [];
  const { logger, lines } = recordingLogger();
  const cp = new WalCheckpointer(
    {
      file: '/nowhere/capture.db',
      main: { setAutoCheckpoint: (pages) => autocheckpoint.push(pages) },
      logger,
      spawn: () => {
        const w = new FakeWorker();
        spawned.push(w);
        return w;
      },
    },
    { worker: true, intervalMs: 1000, walMaxBytes },
  );
  cp.start();
  const worker = spawned[0] as FakeWorker;
  worker.say({ kind: 'ready', pageSize: 4096 });
  return { cp, worker, autocheckpoint, lines, spawned };
}

describe('WalCheckpointer', () => {
  it("turns the daemon connection's own checkpoint off while the worker runs, and on again after stop() joined it", async () => {
    const { cp, worker, autocheckpoint } = setup();
    expect(autocheckpoint).toEqual([0]);
    expect(cp.status().running).toBe(true);
    await cp.stop();
    expect(worker.received.at(-1)).toEqual({ kind: 'stop' });
    expect(cp.status().running).toBe(false);
    expect(autocheckpoint).toEqual([0, 1000]);
  });

  it('logs and counts a failing checkpoint and goes on (the next one counts as done)', async () => {
    const { cp, worker, lines } = setup();
    worker.say({ kind: 'checkpoint', ok: false, error: 'disk I/O error', ms: 3 });
    worker.say({ kind: 'checkpoint', ok: false, error: 'disk I/O error', ms: 3 });
    expect(cp.status()).toMatchObject({ running: true, failures: 2, checkpoints: 0, lastError: 'disk I/O error' });
    // Logged once (at most once a minute), with the count: a warning (the store reports a failing disk as an error itself).
    const errors = lines.filter((l) => l.msg === 'WAL checkpoint failed');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ level: 'warn', fields: { error: 'disk I/O error', failures: 1 } });
    worker.say({ kind: 'checkpoint', ok: true, busy: false, log: 10, checkpointed: 10, ms: 2, rounds: 1 });
    expect(cp.status()).toMatchObject({ running: true, failures: 2, checkpoints: 1, walFrames: 10, walFramesPending: 0 });
    await cp.stop();
  });

  it('falls back to SQLite checkpointing on the event loop when the worker dies, and starts a new one later', async () => {
    const { cp, worker, autocheckpoint, lines, spawned } = setup();
    worker.emit('error', new Error('boom'));
    worker.emit('exit', 1);
    expect(autocheckpoint).toEqual([0, 1000]);
    expect(cp.status()).toMatchObject({ running: false, failures: 1, workerRestarts: 1, lastError: 'boom' });
    expect(lines.some((l) => l.level === 'warn' && l.msg === 'WAL checkpoint worker exited')).toBe(true);
    expect(spawned).toHaveLength(1);
    await cp.stop(); // cancels the restart
    expect(spawned).toHaveLength(1);
  });

  it('turns the event-loop checkpoint on when the WAL reaches walMaxBytes without a full checkpoint, off once it is back under', async () => {
    const { cp, worker, autocheckpoint } = setup(4096 * 100);
    worker.say({ kind: 'checkpoint', ok: true, busy: false, log: 150, checkpointed: 150, ms: 1, rounds: 1 }); // long but complete: the next commit restarts it
    expect(autocheckpoint).toEqual([0]);
    worker.say({ kind: 'checkpoint', ok: true, busy: false, log: 150, checkpointed: 120, ms: 1, rounds: 8 });
    expect(autocheckpoint).toEqual([0, 1000]);
    expect(cp.status()).toMatchObject({ fallbacks: 1, fallbackActive: true });
    worker.say({ kind: 'checkpoint', ok: true, busy: false, log: 160, checkpointed: 140, ms: 1, rounds: 8 });
    expect(cp.status().fallbacks).toBe(1);
    worker.say({ kind: 'checkpoint', ok: true, busy: false, log: 5, checkpointed: 0, ms: 1, rounds: 1 });
    expect(autocheckpoint).toEqual([0, 1000, 0]);
    expect(cp.status().fallbackActive).toBe(false);
    await cp.stop();
  });

  it('settle() waits for a checkpoint at most once per interval', async () => {
    const { cp, worker } = setup();
    let done = false;
    const settled = cp.settle().then(() => (done = true));
    expect(worker.received).toEqual([{ kind: 'now', id: 1 }]);
    // A timer tick's report (begun before the request) does not count: the requested one does.
    worker.say({ kind: 'checkpoint', ok: true, busy: false, log: 40, checkpointed: 30, ms: 1, rounds: 8 });
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    worker.say({ kind: 'checkpoint', ok: true, busy: false, log: 40, checkpointed: 40, ms: 1, rounds: 1, id: 1 });
    await settled;
    await cp.settle(); // settled just now: nothing asked
    expect(worker.received).toEqual([{ kind: 'now', id: 1 }]);
    await cp.stop();
  });

  it('does nothing in mode auto', async () => {
    const autocheckpoint: number[] = [];
    let spawned = 0;
    const cp = new WalCheckpointer(
      { file: '/x.db', main: { setAutoCheckpoint: (p) => autocheckpoint.push(p) }, logger: recordingLogger().logger, spawn: () => (spawned++, new FakeWorker()) },
      { worker: false, intervalMs: 1000, walMaxBytes: 1 },
    );
    cp.start();
    await cp.settle();
    expect(spawned).toBe(0);
    expect(cp.status()).toMatchObject({ mode: 'auto', running: false });
    await cp.stop();
  });
});
