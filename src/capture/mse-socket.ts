import { EventEmitter } from 'node:events';
import net from 'node:net';
import { MseError } from '../protocol/mse/mse-error.js';
import { MseInitiator, type MseOutput } from '../protocol/mse/mse-initiator.js';
import type { MseKeyPair, MseMethod } from '../protocol/mse/mse-crypto.js';
import { mseDhPool, type MseDhPool } from '../protocol/mse/mse-dh-pool.js';
import { CaptureError } from './capture-errors.js';

/**
 * What a capture needs from its connection: net.Socket has it, and so does MseSocket, which
 * runs the MSE/PE handshake (as initiator) underneath and hands the capture plaintext only. So
 * the capture, its frame checks and its pcap recorder see the decrypted conversation, and its
 * deadlines (handshake, idle, total) cover the encryption handshake too.
 */
export interface CaptureSocket {
  on(event: 'connect' | 'end' | 'close', listener: () => void): this;
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  setNoDelay(noDelay?: boolean): unknown;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
  write(chunk: Uint8Array): boolean;
  /** Stops reading (the capture yields to the event loop; TCP flow control slows the peer). */
  pause(): unknown;
  resume(): unknown;
  destroy(): void;
}

export interface DialOptions {
  host: string;
  port: number;
  localAddress?: string | undefined;
}

export type Dial = (options: DialOptions) => CaptureSocket;

export class MseSocket extends EventEmitter implements CaptureSocket {
  private readonly tcp: net.Socket;
  private readonly mse: MseInitiator;
  private readonly dh: MseDhPool;
  private failed = false;

  /**
   * `dh`: where the Diffie-Hellman work is done (default the daemon's MseDhPool: key pairs made
   * ahead and secrets computed on its thread, inline when it cannot take them).
   */
  constructor(options: DialOptions & { infohash: Uint8Array; provide?: number; dh?: MseDhPool }) {
    super();
    const dh = options.dh ?? mseDhPool;
    this.dh = dh;
    this.mse = new MseInitiator({ infohash: options.infohash, provide: options.provide, keySource: () => dh.keyPair(), deferSecret: true });
    this.tcp = net.connect({ host: options.host, port: options.port, localAddress: options.localAddress });
    this.tcp.on('connect', () => {
      let step1: Uint8Array;
      try {
        step1 = this.mse.start();
      } catch (err) {
        // Never out of a socket handler: the capture ends with the error instead.
        this.fail(err);
        return;
      }
      this.tcp.write(step1);
      this.emit('connect');
    });
    this.tcp.on('data', (chunk: Buffer) => this.onData(chunk));
    this.tcp.on('end', () => this.emit('end'));
    this.tcp.on('error', (err) => this.emit('error', err));
    this.tcp.on('close', () => this.emit('close'));
  }

  /** The method the peer selected ('rc4', or 'plaintext' after an obfuscated handshake); undefined until then. */
  get method(): MseMethod | undefined {
    return this.mse.method;
  }

  get localAddress(): string | undefined {
    return this.tcp.localAddress;
  }

  get localPort(): number | undefined {
    return this.tcp.localPort;
  }

  setNoDelay(noDelay?: boolean): this {
    this.tcp.setNoDelay(noDelay);
    return this;
  }

  write(chunk: Uint8Array): boolean {
    if (this.failed || this.tcp.destroyed) return false;
    const out = this.mse.write(chunk);
    return out.length === 0 ? true : this.tcp.write(out);
  }

  pause(): this {
    this.tcp.pause();
    return this;
  }

  resume(): this {
    this.tcp.resume();
    return this;
  }

  destroy(): void {
    this.tcp.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.failed) return;
    this.step(() => this.mse.receive(chunk));
  }

  private step(fn: () => MseOutput): void {
    let out;
    try {
      out = fn();
    } catch (err) {
      this.fail(err);
      return;
    }
    if (out.send.length > 0) this.tcp.write(out.send);
    if (out.plain.length > 0) this.emit('data', Buffer.from(out.plain.buffer, out.plain.byteOffset, out.plain.length));
    if (out.peerPublic !== undefined) {
      // Yb arrived: S on the pool's thread (or inline); step 3 leaves when it is known.
      this.dh.secret(this.mse.ownKeyPair as MseKeyPair, out.peerPublic).then(
        (secret) => {
          if (!this.failed && !this.tcp.destroyed) this.step(() => this.mse.withSecret(secret));
        },
        (err: unknown) => {
          if (!this.failed && !this.tcp.destroyed) this.fail(err);
        },
      );
    }
  }

  private fail(err: unknown): void {
    this.failed = true;
    this.emit('error', encryptionError(err));
    this.tcp.destroy();
  }
}

function encryptionError(err: unknown): CaptureError {
  if (err instanceof MseError) return new CaptureError('ENCRYPTION_HANDSHAKE', err.message, { cause: err });
  return new CaptureError('INTERNAL', `internal error: ${(err as Error).message}`, { cause: err });
}
