import { describe, expect, it } from 'vitest';
import { BTN_THREAD, WriteTurn } from '../../../src/store/write-turn.js';
import { withWriteTurn } from '../../../src/util/write-turn-port.js';

const holder = (t: WriteTurn): number => Atomics.load(new Int32Array(t.buffer), 0);

describe('withWriteTurn: an event-loop write in the turn of the BTN write thread', () => {
  it('writes at once when the turn is free, holding it only while it writes', async () => {
    const t = new WriteTurn();
    let during = -1;
    const r = await withWriteTurn(t, () => {
      during = holder(t);
      return 7;
    });
    expect(r).toEqual({ value: 7, waited: false });
    expect(during).not.toBe(0);
    expect(holder(t)).toBe(0);
  });

  it('waits (the event loop runs on) while the thread holds the turn, and writes once it lets go', async () => {
    const t = new WriteTurn();
    t.take(0, BTN_THREAD); // the thread is in its transaction
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    const t0 = performance.now();
    setTimeout(() => t.releaseThread(BTN_THREAD), 120);
    const r = await withWriteTurn(t, () => performance.now() - t0);
    clearInterval(ticker);
    expect(r.waited).toBe(true);
    expect(r.value).toBeGreaterThanOrEqual(100);
    expect(ticks).toBeGreaterThan(5); // not blocked meanwhile
    expect(holder(t)).toBe(0);
  });

  it('writes anyway after maxWaitMs (SQLite\'s busy timeout decides), without taking the thread\'s turn', async () => {
    const t = new WriteTurn();
    t.take(0, BTN_THREAD);
    const r = await withWriteTurn(t, () => 'written', 60);
    expect(r).toEqual({ value: 'written', waited: true });
    expect(holder(t)).toBe(BTN_THREAD);
    expect((await withWriteTurn(undefined, () => 1)).waited).toBe(false);
  });
});

describe("WriteTurn: the daemon connection's automatic checkpoint, for the write threads' connections", () => {
  it('says nothing until the daemon connection sets it, then each change once', () => {
    const daemon = new WriteTurn();
    const thread = new WriteTurn(daemon.buffer); // the thread's view of the same shared buffer
    expect(thread.autoCheckpointChanged(undefined)).toBeUndefined(); // SQLite's default stays
    daemon.setAutoCheckpoint(0);
    expect(thread.autoCheckpointChanged(undefined)).toBe(0);
    expect(thread.autoCheckpointChanged(0)).toBeUndefined();
    daemon.setAutoCheckpoint(1000);
    expect(thread.autoCheckpointChanged(0)).toBe(1000);
    expect(thread.autoCheckpointChanged(1000)).toBeUndefined();
  });
});
