import type { Logger } from '../util/logger.js';

/**
 * A part of the daemon as the composition root sees it: built by a factory `(deps, options)`,
 * started in order, stopped in reverse. `start` binds sockets, starts timers and background work;
 * a factory itself only builds objects.
 */
export interface Module {
  start?(): Promise<void> | void;
  stop(): Promise<void> | void;
}

/**
 * Starts modules in order and stops, in reverse, everything that started (or was registered with
 * `onStop`). A failing stop is logged and the others still run.
 */
export class Lifecycle {
  private readonly stops: Array<() => Promise<void> | void> = [];

  constructor(private readonly log: Logger) {}

  /** Starts `module` (if it has a start) and registers its stop. */
  async start<M extends Module>(module: M): Promise<M> {
    await module.start?.();
    this.stops.push(() => module.stop());
    return module;
  }

  /** Registers a stop for something already running (an open database, a timer, a signal handler). */
  onStop(stop: () => Promise<void> | void): void {
    this.stops.push(stop);
  }

  /** Runs `stop` last when stopping (after every other stop, e.g. removing signal handlers). */
  onStopLast(stop: () => Promise<void> | void): void {
    this.stops.unshift(stop);
  }

  async stopAll(): Promise<void> {
    while (this.stops.length > 0) {
      const stop = this.stops.pop() as () => Promise<void> | void;
      try {
        await stop();
      } catch (err) {
        this.log.error({ err }, 'error while stopping');
      }
    }
  }
}
