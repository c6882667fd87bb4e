import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSdNotifier } from '../../../src/daemon/sd-notify.js';
import { startNotifyListener, type Datagram, type Listener } from '../../helpers/notify-listener.js';
import type { Logger } from '../../../src/util/logger.js';

const cleanups: Array<() => void> = [];

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0)) cleanup();
});

const startListener = (address: string): Promise<Listener> => startNotifyListener(address, cleanups);

function tempSocketPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sd-notify-test-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'notify.sock');
}

function abstractName(): string {
  return `@capture-daemon-sd-notify-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
}

/** A Logger stand-in that records calls (child() returns itself). */
function recordingLogger() {
  const fns = {
    trace: vi.fn(),
    debug: vi.fn(),
    info: vi.fn(),
    warn: vi.fn(),
    error: vi.fn(),
    fatal: vi.fn(),
  };
  const logger = { ...fns, child: () => logger };
  return { logger: logger as unknown as Logger, ...fns };
}

const count = (all: Datagram[], data: string): number => all.filter((d) => d.data === data).length;

describe('createSdNotifier: datagrams to a real AF_UNIX socket', () => {
  it('sends READY, STATUS, WATCHDOG, RELOADING and STOPPING to a filesystem socket, from our own pid', async () => {
    const listener = await startListener(tempSocketPath());
    const { logger, debug, warn } = recordingLogger();
    const notifier = createSdNotifier(logger, { NOTIFY_SOCKET: listener.address });
    expect(notifier.enabled).toBe(true);

    notifier.ready('listening on 6881');
    notifier.status('crawling: 1200 nodes\nsecond line');
    notifier.watchdog();
    notifier.reloading();
    notifier.ready();
    notifier.stopping('shutting down');
    await listener.waitFor((all) => all.length >= 6);

    const data = listener.received.map((d) => d.data);
    expect(data[0]).toBe('READY=1\nSTATUS=listening on 6881');
    expect(data[1]).toBe('STATUS=crawling: 1200 nodes second line');
    expect(data[2]).toBe('WATCHDOG=1');
    expect(data[3]).toMatch(/^RELOADING=1\nMONOTONIC_USEC=\d+$/);
    expect(data[4]).toBe('READY=1');
    expect(data[5]).toBe('STOPPING=1\nSTATUS=shutting down');
    // Sent in-process, so NotifyAccess=main accepts it.
    expect(listener.received.every((d) => d.pid === process.pid)).toBe(true);
    expect(debug).not.toHaveBeenCalled();
    expect(warn).not.toHaveBeenCalled();
  });

  it('sends to an abstract-namespace NOTIFY_SOCKET (@name)', async () => {
    const listener = await startListener(abstractName());
    const notifier = createSdNotifier(recordingLogger().logger, { NOTIFY_SOCKET: listener.address });
    expect(notifier.enabled).toBe(true);

    notifier.ready('up');
    notifier.watchdog();
    notifier.stopping();
    await listener.waitFor((all) => all.length >= 3);

    expect(listener.received).toEqual([
      { pid: process.pid, data: 'READY=1\nSTATUS=up' },
      { pid: process.pid, data: 'WATCHDOG=1' },
      { pid: process.pid, data: 'STOPPING=1' },
    ]);
  });

  it('startWatchdog pings at watchdogIntervalMs only while healthy, and stops', async () => {
    const listener = await startListener(abstractName());
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const notifier = createSdNotifier(recordingLogger().logger, {
      NOTIFY_SOCKET: listener.address,
      WATCHDOG_USEC: '2000000',
      WATCHDOG_PID: String(process.pid),
    });
    expect(notifier.watchdogIntervalMs).toBe(1000);

    let healthy = true;
    const stop = notifier.startWatchdog(() => healthy);
    await listener.waitFor((all) => count(all, 'WATCHDOG=1') === 1); // immediate first ping
    vi.advanceTimersByTime(999);
    notifier.status('marker-1'); // datagrams arrive in order: a marker proves nothing came before
    await listener.waitFor((all) => all.some((d) => d.data === 'STATUS=marker-1'));
    expect(count(listener.received, 'WATCHDOG=1')).toBe(1);

    vi.advanceTimersByTime(1 + 2 * 1000); // ticks at 1000, 2000, 3000
    await listener.waitFor((all) => count(all, 'WATCHDOG=1') === 4);

    healthy = false;
    vi.advanceTimersByTime(3 * 1000);
    notifier.status('marker-2');
    await listener.waitFor((all) => all.some((d) => d.data === 'STATUS=marker-2'));
    expect(count(listener.received, 'WATCHDOG=1')).toBe(4);

    healthy = true;
    vi.advanceTimersByTime(1000);
    await listener.waitFor((all) => count(all, 'WATCHDOG=1') === 5);

    stop();
    vi.advanceTimersByTime(5 * 1000);
    notifier.status('marker-3');
    await listener.waitFor((all) => all.some((d) => d.data === 'STATUS=marker-3'));
    expect(count(listener.received, 'WATCHDOG=1')).toBe(5);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('startWatchdog uses an unref()d timer, treats a throwing health check as unhealthy, and replaces a previous timer', async () => {
    const listener = await startListener(abstractName());
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
    const { logger, debug } = recordingLogger();
    const notifier = createSdNotifier(logger, { NOTIFY_SOCKET: listener.address, WATCHDOG_USEC: '600000000' });
    expect(notifier.watchdogIntervalMs).toBe(300_000);

    const stopThrowing = notifier.startWatchdog(() => {
      throw new Error('db gone');
    });
    const first = setIntervalSpy.mock.results[0]?.value as NodeJS.Timeout;
    expect(first.hasRef()).toBe(false);
    expect(debug).toHaveBeenCalledWith(expect.objectContaining({ err: expect.any(Error) }), expect.any(String));

    const stop = notifier.startWatchdog(() => true);
    notifier.status('marker');
    await listener.waitFor((all) => all.some((d) => d.data === 'STATUS=marker'));
    // the throwing check sent nothing; the second watchdog pinged once immediately
    expect(listener.received.map((d) => d.data)).toEqual(['WATCHDOG=1', 'STATUS=marker']);
    stopThrowing(); // stopping an already-replaced watchdog is harmless
    stop();
  });
});

describe('createSdNotifier: disabled and failure paths', () => {
  it('is a silent no-op when NOTIFY_SOCKET is unset', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { logger, debug, info, warn, error } = recordingLogger();
    const notifier = createSdNotifier(logger, {});
    expect(notifier.enabled).toBe(false);
    expect(notifier.watchdogIntervalMs).toBeUndefined();
    expect(() => {
      notifier.ready('x');
      notifier.status('x');
      notifier.watchdog();
      notifier.reloading();
      notifier.stopping('x');
    }).not.toThrow();
    const stop = notifier.startWatchdog(() => true);
    expect(vi.getTimerCount()).toBe(0);
    expect(() => stop()).not.toThrow();
    for (const fn of [debug, info, warn, error]) expect(fn).not.toHaveBeenCalled();
  });

  it('does not start a watchdog timer without NOTIFY_SOCKET even if WATCHDOG_USEC is set', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const notifier = createSdNotifier(recordingLogger().logger, { WATCHDOG_USEC: '30000000' });
    expect(notifier.watchdogIntervalMs).toBe(15_000);
    notifier.startWatchdog(() => true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('never throws when nobody listens; logs the failure at debug', () => {
    for (const address of [tempSocketPath(), abstractName()]) {
      const { logger, debug, warn } = recordingLogger();
      const notifier = createSdNotifier(logger, { NOTIFY_SOCKET: address });
      expect(notifier.enabled).toBe(true);
      expect(() => {
        notifier.ready();
        notifier.watchdog();
        notifier.stopping();
      }).not.toThrow();
      expect(debug).toHaveBeenCalledTimes(3);
      const [fields] = debug.mock.calls[0] as [{ err: NodeJS.ErrnoException }];
      expect(['ENOENT', 'ECONNREFUSED']).toContain(fields.err.code);
      expect(warn).not.toHaveBeenCalled();
    }
  });

  it('disables itself (debug log, no throw) for an unusable NOTIFY_SOCKET', () => {
    for (const address of ['relative/path.sock', 'vsock:2:1234', `/${'x'.repeat(200)}`, '@']) {
      const { logger, debug } = recordingLogger();
      const notifier = createSdNotifier(logger, { NOTIFY_SOCKET: address });
      expect(notifier.enabled, address).toBe(false);
      expect(() => notifier.ready()).not.toThrow();
      expect(debug).toHaveBeenCalledTimes(1);
    }
  });
});

describe('watchdogIntervalMs', () => {
  const interval = (env: NodeJS.ProcessEnv) => createSdNotifier(recordingLogger().logger, env).watchdogIntervalMs;

  it('is half of WATCHDOG_USEC in ms when WATCHDOG_PID is absent or ours', () => {
    expect(interval({ WATCHDOG_USEC: '30000000' })).toBe(15_000);
    expect(interval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: String(process.pid) })).toBe(15_000);
    expect(interval({ WATCHDOG_USEC: '1000' })).toBe(1); // never below 1 ms
    expect(interval({ WATCHDOG_USEC: '3001' })).toBe(1);
  });

  it('is undefined when WATCHDOG_PID names another process', () => {
    expect(interval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: String(process.pid + 1) })).toBeUndefined();
  });

  it('is undefined when WATCHDOG_USEC is missing, zero or malformed', () => {
    for (const usec of [undefined, '', '0', '-5', '1.5', 'abc', '30s', '99999999999999999999']) {
      expect(interval({ WATCHDOG_USEC: usec }), String(usec)).toBeUndefined();
    }
  });
});
