import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { CaptureSocket, Dial, DialOptions } from './mse-socket.js';

/**
 * uTP (BEP 29) connections for captures, over utp-native (Node bindings of libutp, the BitTorrent
 * reference implementation; N-API, prebuilt for linux-x64 inside the package). One UDP socket per
 * connection, bound to `capture.localAddress` when set, closed with the connection. Measured
 * against libtorrent 2.0.8 over uTP and on loopback: bench/README.md, "uTP".
 */

/** What we use of utp-native's API (its own types are not published). */
interface UtpConnection extends EventEmitter {
  write(chunk: Uint8Array): boolean;
  pause(): unknown;
  resume(): unknown;
  destroy(err?: Error): void;
}
interface UtpUdp extends EventEmitter {
  bind(port: number, ip: string): void;
  connect(port: number, host: string): UtpConnection;
  address(): { address: string; port: number };
  close(): void;
}
export type UtpModule = (() => UtpUdp) & { createServer(onConnection?: (c: UtpConnection) => void): UtpUdp & { listen(port: number, ip: string, cb?: () => void): void } };

let loaded: { utp?: UtpModule; error?: string } | undefined;

/** utp-native, or why it could not be loaded (then captures stay on TCP). */
export function loadUtp(): { utp?: UtpModule; error?: string } {
  if (loaded === undefined) {
    try {
      loaded = { utp: createRequire(import.meta.url)('utp-native') as UtpModule };
    } catch (err) {
      loaded = { error: `utp-native not loadable: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
  return loaded;
}

/** A uTP connection as a capture sees a socket (events, write, pause/resume, destroy). */
export class UtpSocket extends EventEmitter implements CaptureSocket {
  private readonly udp: UtpUdp;
  private readonly conn: UtpConnection;
  private closed = false;
  localAddress: string | undefined;
  localPort: number | undefined;

  constructor(utp: UtpModule, target: DialOptions) {
    super();
    this.udp = utp();
    if (target.localAddress !== undefined) this.udp.bind(0, target.localAddress);
    this.conn = this.udp.connect(target.port, target.host);
    this.conn.on('connect', () => {
      try {
        const a = this.udp.address();
        this.localAddress = a.address;
        this.localPort = a.port;
      } catch {
        // not bound yet: the recorder keeps its placeholder
      }
      this.emit('connect');
    });
    this.conn.on('data', (chunk: Buffer) => this.emit('data', chunk));
    this.conn.on('end', () => this.emit('end'));
    this.conn.on('error', (err: Error) => this.emit('error', err));
    this.conn.on('close', () => {
      this.closeUdp();
      this.emit('close');
    });
  }

  /**
   * uTP has no Nagle: what is written goes out at once. (Not utp-native's setInteractive: in
   * 2.5.3 it sets a 64 KiB read buffer whatever it is given, so small messages would wait.)
   */
  setNoDelay(): void {
    // nothing to do
  }

  /** A copy: utp-native takes Buffers only and sends them later (the caller may reuse its bytes). */
  write(chunk: Uint8Array): boolean {
    return this.conn.write(Buffer.from(chunk));
  }

  pause(): void {
    this.conn.pause();
  }

  resume(): void {
    this.conn.resume();
  }

  destroy(): void {
    this.conn.destroy();
    this.closeUdp();
  }

  private closeUdp(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.udp.close();
    } catch {
      // already closing
    }
  }
}

/** A Dial over uTP, or undefined when utp-native is not available. */
export function utpDial(): Dial | undefined {
  const { utp } = loadUtp();
  return utp === undefined ? undefined : (target) => new UtpSocket(utp, target);
}
