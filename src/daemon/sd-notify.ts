/**
 * sd_notify(3) support, so the service can run as `Type=notify` with `WatchdogSec=`.
 *
 * The protocol: one AF_UNIX SOCK_DGRAM datagram per notification, containing newline-separated
 * `KEY=VALUE` assignments, sent to the address in $NOTIFY_SOCKET (a filesystem path starting with
 * `/`, or an abstract-namespace name written with a leading `@`). systemd documents this as a
 * stable interface that programs may implement themselves (sd_notify(3), "Notes").
 *
 * How the datagram is sent, and why
 * ---------------------------------
 * Node has no AF_UNIX SOCK_DGRAM support (`dgram` is UDP only, `net` is stream only), so something
 * native is unavoidable. Options that were measured on this machine (Debian 12, systemd 252,
 * Node 20) before choosing:
 *
 * - `unix-dgram` (nan addon, compiled by node-gyp at install): path sockets work, but abstract
 *   sockets do not. It `strncpy`s the JS string into `sun_path` and passes `sizeof(sockaddr_un)`
 *   as the length, so `"\0name"` becomes an empty name: sending to `@name` fails with
 *   ECONNREFUSED. Ruled out (systemd may hand us an abstract NOTIFY_SOCKET).
 * - `sd-notify` (addon linked against libsystemd): works, including abstract sockets, but it needs
 *   a C++ toolchain and libsystemd-dev on every machine that runs `npm ci` (no prebuilt binaries),
 *   is built against V8's C++ API (rebuild on every Node major), and libsystemd reads the real C
 *   environment, not an injected `env`.
 * - spawning `systemd-notify`: ~6-20 ms and one fork per message, and the datagram's sender is the
 *   systemd-notify process, not us. Its `--pid=` only forges the SCM_CREDENTIALS pid with
 *   CAP_SYS_ADMIN; measured as an unprivileged user, READY=1 arrived with systemd-notify's own pid.
 *   So the unit would need `NotifyAccess=all` (any process in the cgroup may then signal READY or
 *   feed the watchdog), and correct delivery would rely on systemd-notify's BARRIER=1 wait
 *   (systemd >= 246) so that PID 1 can still map the exited sender to our cgroup.
 * - chosen: `koffi` (N-API FFI, ABI-stable across Node versions, prebuilt binaries shipped as npm
 *   packages `@koromix/koffi-<os>-<arch>`, so no compiler, no libsystemd-dev, no install script:
 *   package.json's allowScripts denies it) calling libc's socket(2)/sendto(2)/close(2) directly.
 *   The datagram comes from our own pid, so the unit can keep the strict `NotifyAccess=main`; we
 *   build `sockaddr_un` ourselves, so abstract names work; sending is synchronous and
 *   non-blocking (MSG_DONTWAIT), ~12 µs per notification including socket()/close().
 *
 * koffi is loaded lazily, only when NOTIFY_SOCKET is set: CLI commands and tests that do not run
 * under systemd never load a native module. When NOTIFY_SOCKET is unset everything is a silent
 * no-op. No method ever throws; send failures are logged at debug.
 */
import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import type { Logger } from '../util/logger.js';

export interface SdNotifier {
  /** READY=1 (+ STATUS=): startup finished, or a reload finished. */
  ready(status?: string): void;
  /** STOPPING=1 (+ STATUS=): shutdown has begun. */
  stopping(status?: string): void;
  /** STATUS=: free-form one-line status shown by `systemctl status`. Newlines become spaces. */
  status(text: string): void;
  /** WATCHDOG=1: one keep-alive ping. */
  watchdog(): void;
  /** RELOADING=1 (+ MONOTONIC_USEC=): a reload (SIGHUP) has begun; call ready() when done. */
  reloading(): void;
  /** True when NOTIFY_SOCKET names a usable address and the datagram sender is available. */
  readonly enabled: boolean;
  /**
   * Half of WATCHDOG_USEC, in milliseconds (at least 1), when WATCHDOG_USEC is a positive integer
   * and WATCHDOG_PID is absent or equal to our pid; otherwise undefined. Computed like
   * sd_watchdog_enabled(3), i.e. independently of NOTIFY_SOCKET.
   */
  readonly watchdogIntervalMs: number | undefined;
  /**
   * Pings WATCHDOG=1 now and then every watchdogIntervalMs (unref'd timer), but only while
   * isHealthy() returns true (a throwing isHealthy counts as unhealthy). Returns a function that
   * stops the pinging. A no-op (returning a no-op) unless enabled and watchdogIntervalMs is set.
   * Starting again stops the previous timer of this notifier.
   */
  startWatchdog(isHealthy: () => boolean): () => void;
}

// Linux ABI constants (identical on every architecture koffi ships binaries for: x64, ia32, arm,
// arm64, riscv64, loong64; MIPS, SPARC and Alpha differ, hence the allow-list below).
const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const EINTR = 4;
const SUN_PATH_MAX = 108; // sizeof(sockaddr_un.sun_path) on Linux
const SUPPORTED_ARCHES = new Set(['x64', 'ia32', 'arm', 'arm64', 'riscv64', 'loong64']);

/** Sends one datagram to a raw sockaddr_un; throws an Error with `code` (errno name) on failure. */
interface DatagramSender {
  send(address: Buffer, payload: Buffer): void;
}

type NativeFn = (...args: unknown[]) => number;
interface KoffiLike {
  load(path: string | null): { func(signature: string): NativeFn };
  errno(): number;
  os: { errno: Record<string, number> };
}

let cachedSender: DatagramSender | Error | undefined;

/** Loads koffi and binds libc once per process; returns the Error instead of throwing. */
function loadSender(): DatagramSender | Error {
  if (cachedSender !== undefined) return cachedSender;
  try {
    if (process.platform !== 'linux' || !SUPPORTED_ARCHES.has(process.arch)) {
      throw new Error(`sd_notify sender unsupported on ${process.platform}/${process.arch}`);
    }
    const koffi = createRequire(import.meta.url)('koffi') as KoffiLike;
    // dlopen(NULL): the symbols node itself is linked against (glibc or musl alike).
    let libc: ReturnType<KoffiLike['load']>;
    try {
      libc = koffi.load(null);
      libc.func('int close(int)');
    } catch {
      libc = koffi.load('libc.so.6');
    }
    const socket = libc.func('int socket(int, int, int)');
    const sendto = libc.func('long sendto(int, const void *, size_t, int, const void *, uint32_t)');
    const close = libc.func('int close(int)');
    const errnoNames = new Map(Object.entries(koffi.os.errno).map(([name, num]) => [num, name]));
    const fail = (syscall: string): never => {
      const errno = koffi.errno();
      const code = errnoNames.get(errno) ?? `errno ${errno}`;
      throw Object.assign(new Error(`${syscall}: ${code}`), { code, errno, syscall });
    };
    cachedSender = {
      send(address, payload) {
        const fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) fail('socket');
        try {
          for (let attempt = 0; ; attempt++) {
            const n = sendto(fd, payload, payload.length, MSG_DONTWAIT | MSG_NOSIGNAL, address, address.length);
            if (n >= 0) return;
            if (koffi.errno() !== EINTR || attempt >= 2) fail('sendto');
          }
        } finally {
          close(fd);
        }
      },
    };
  } catch (err) {
    cachedSender = err instanceof Error ? err : new Error(String(err));
  }
  return cachedSender;
}

/**
 * Encodes NOTIFY_SOCKET as the bytes of a `struct sockaddr_un` (exactly the used length, as
 * sd_notify does). Returns an Error for an unsupported or oversized address.
 */
function encodeAddress(notifySocket: string): Buffer | Error {
  let path: Buffer;
  if (notifySocket.startsWith('/')) {
    path = Buffer.concat([Buffer.from(notifySocket, 'utf8'), Buffer.from([0])]);
  } else if (notifySocket.startsWith('@')) {
    // Abstract namespace: a leading NUL, then the name; the length delimits it (no trailing NUL).
    path = Buffer.concat([Buffer.from([0]), Buffer.from(notifySocket.slice(1), 'utf8')]);
  } else {
    return new Error(`unsupported NOTIFY_SOCKET address ${JSON.stringify(notifySocket)}`);
  }
  if (path.length > SUN_PATH_MAX || path.length < 2) {
    return new Error(`NOTIFY_SOCKET address too long or empty (${path.length} bytes)`);
  }
  const address = Buffer.alloc(2 + path.length);
  if (endianness() === 'LE') address.writeUInt16LE(AF_UNIX, 0);
  else address.writeUInt16BE(AF_UNIX, 0);
  path.copy(address, 2);
  return address;
}

function computeWatchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = env.WATCHDOG_USEC;
  if (usec === undefined || !/^\d+$/.test(usec)) return undefined;
  const watchdogPid = env.WATCHDOG_PID;
  if (watchdogPid !== undefined && watchdogPid !== '' && watchdogPid !== String(pid)) return undefined;
  const micros = Number(usec);
  if (!Number.isSafeInteger(micros) || micros <= 0) return undefined;
  return Math.max(1, Math.floor(micros / 2000));
}

/** One-line value for STATUS=: the protocol separates assignments with newlines. */
function oneLine(text: string): string {
  return text.replace(/[\r\n\0]+/g, ' ').trim();
}

function withStatus(head: string, status: string | undefined): string {
  return status === undefined ? head : `${head}\nSTATUS=${oneLine(status)}`;
}

/** `logger` is used as given (callers pass `logger.child({ component: 'sd-notify' })`). */
export function createSdNotifier(logger: Logger, env: NodeJS.ProcessEnv = process.env): SdNotifier {
  const log = logger;
  const watchdogIntervalMs = computeWatchdogIntervalMs(env, process.pid);
  const notifySocket = env.NOTIFY_SOCKET;

  let address: Buffer | undefined;
  let sender: DatagramSender | undefined;
  if (notifySocket !== undefined && notifySocket !== '') {
    const encoded = encodeAddress(notifySocket);
    const loaded = encoded instanceof Error ? undefined : loadSender();
    if (encoded instanceof Error) {
      log.debug({ err: encoded }, 'sd_notify disabled: bad NOTIFY_SOCKET');
    } else if (loaded instanceof Error) {
      // Not debug: under Type=notify systemd will time the start out without READY=1.
      log.warn({ err: loaded }, 'sd_notify disabled: cannot load the datagram sender (koffi)');
    } else {
      address = encoded;
      sender = loaded;
    }
  }
  const enabled = address !== undefined && sender !== undefined;

  const send = (message: string): void => {
    if (address === undefined || sender === undefined) return;
    try {
      sender.send(address, Buffer.from(message, 'utf8'));
    } catch (err) {
      try {
        log.debug({ err, message, notifySocket }, 'sd_notify send failed');
      } catch {
        // never throw out of a notification
      }
    }
  };

  let stopCurrentWatchdog: (() => void) | undefined;

  return {
    enabled,
    watchdogIntervalMs,
    ready: (status) => send(withStatus('READY=1', status)),
    stopping: (status) => send(withStatus('STOPPING=1', status)),
    status: (text) => send(`STATUS=${oneLine(String(text))}`),
    watchdog: () => send('WATCHDOG=1'),
    // MONOTONIC_USEC is required by Type=notify-reload (systemd >= 253) and ignored before.
    // process.hrtime is CLOCK_MONOTONIC on Linux, the clock systemd compares against.
    reloading: () => send(`RELOADING=1\nMONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`),
    startWatchdog(isHealthy) {
      stopCurrentWatchdog?.();
      if (!enabled || watchdogIntervalMs === undefined) return () => {};
      const tick = (): void => {
        let healthy = false;
        try {
          healthy = isHealthy() === true;
        } catch (err) {
          log.debug({ err }, 'watchdog health check threw; skipping ping');
          return;
        }
        if (healthy) send('WATCHDOG=1');
        else log.debug('watchdog health check failed; skipping ping');
      };
      tick();
      const timer = setInterval(tick, watchdogIntervalMs);
      timer.unref();
      const stop = (): void => {
        clearInterval(timer);
        if (stopCurrentWatchdog === stop) stopCurrentWatchdog = undefined;
      };
      stopCurrentWatchdog = stop;
      return stop;
    },
  };
}
