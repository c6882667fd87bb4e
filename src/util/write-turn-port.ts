/**
 * The write turn as the event loop's writers use it (src/store/write-turn.ts implements it): taken
 * for a synchronous write when free, else waited for (asynchronously) until the other writer of the
 * file (the BTN write thread) lets go.
 */
export interface WriteTurnPort {
  tryTake(): boolean;
  whenFree(timeoutMs: number): Promise<void>;
  release(): void;
}

/**
 * Runs `work` (synchronous SQLite writes on the event loop) holding the turn. While the other writer
 * holds it, waits for it without blocking the event loop, at most `maxWaitMs`; then runs `work`
 * anyway (SQLite's busy timeout decides, as without the turn). `waited`: the turn was not free at once.
 */
export async function withWriteTurn<T>(turn: WriteTurnPort | undefined, work: () => T, maxWaitMs = 2000): Promise<{ value: T; waited: boolean }> {
  if (!turn) return { value: work(), waited: false };
  const deadline = performance.now() + maxWaitMs;
  let waited = false;
  let took = turn.tryTake();
  while (!took) {
    const left = deadline - performance.now();
    if (left <= 0) break;
    waited = true;
    await turn.whenFree(left);
    // A turn the event loop itself holds resolves whenFree at once: yield to the event loop first.
    await new Promise((r) => setImmediate(r));
    took = turn.tryTake();
  }
  try {
    return { value: work(), waited };
  } finally {
    if (took) turn.release();
  }
}

/**
 * `write` (a synchronous SQLite write on the event loop: an API change) as a function that runs it
 * in the write turn (withWriteTurn): while the BTN write thread is in its transaction, the call
 * waits for the turn (the event loop runs on) instead of meeting that thread in SQLite's lock, where
 * the daemon's connection waits only database.busyTimeoutMs (50 ms) and the request got a 503.
 * Without a turn (PostgreSQL, tests) it writes at once.
 */
export function inWriteTurn<A extends unknown[], R>(turn: WriteTurnPort | undefined, write: (...args: A) => R): (...args: A) => Promise<R> {
  return async (...args: A) => (await withWriteTurn(turn, () => write(...args))).value;
}
