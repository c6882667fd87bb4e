/**
 * One TCP conversation as the capture saw it at the socket level: who talked to whom, and every
 * chunk of bytes in each direction with its real timestamp. The pcap writer synthesizes the
 * IPv4/IPv6 + TCP frames (SYN, SYN-ACK, ACK, data, FIN) from this.
 */
export interface Endpoint {
  ip: string;
  port: number;
}

export type ConversationEvent =
  /** TCP connection established (the writer emits SYN, SYN-ACK, ACK at this time). */
  | { kind: 'connect'; timeUs: number }
  /** Bytes we sent ('out') or received ('in'). */
  | { kind: 'data'; dir: 'out' | 'in'; timeUs: number; data: Uint8Array }
  /** Bytes sent or received past the recording bound: counted, not kept (the TCP sequence numbers skip them). */
  | { kind: 'skip'; dir: 'out' | 'in'; timeUs: number; bytes: number }
  /** One side closed ('out' = we closed, 'in' = the peer closed). */
  | { kind: 'fin'; dir: 'out' | 'in'; timeUs: number }
  /** The connection was reset or the attempt failed before connecting (no frames for a failed connect). */
  | { kind: 'reset'; dir: 'out' | 'in'; timeUs: number };

export interface Conversation {
  local: Endpoint;
  remote: Endpoint;
  events: ConversationEvent[];
  /**
   * How the bytes were carried when that is not what the frames show (e.g. "MSE/PE (RC4 …): the
   * conversation as decrypted"). A conversation with a note is written as pcapng, the note as
   * the section's comment (`capinfos` and Wireshark's capture file properties show it).
   */
  note?: string;
}

/** True when bytes went either way: a conversation worth a pcap (a refused or silent connect is not). */
export function holdsConversation(conv: Conversation): boolean {
  return conv.events.some((e) => e.kind === 'data' && e.data.length > 0);
}

/** Microseconds since the epoch, from a high-resolution clock anchored once to wall time. */
const anchorUs = BigInt(Date.now()) * 1000n - process.hrtime.bigint() / 1000n;
export function nowUs(): number {
  return Number(anchorUs + process.hrtime.bigint() / 1000n);
}

/** Default bound on the bytes one capture keeps for its pcap (both directions): `pcap.maxBytesPerCapture`. */
export const DEFAULT_MAX_RECORDED_BYTES = 512 * 1024;
/** Bound on the data events kept (a peer sending one byte per segment cannot grow the event list). */
export const MAX_RECORDED_EVENTS = 2048;

/**
 * Collects a conversation's events; a capture passes one to its socket taps. Holds at most
 * `maxBytes` of data (and MAX_RECORDED_EVENTS events): later bytes are counted per direction, not
 * kept, and become one `skip` event per direction before the connection's end, so the pcap's TCP
 * sequence numbers account for them.
 */
export class ConversationRecorder {
  readonly conversation: Conversation;
  private bytes = 0;
  /** Bytes counted but not kept, per direction (not yet written as `skip` events). */
  private readonly unwritten = { in: 0, out: 0 };
  /** Bytes counted but not kept, both directions, in total. */
  skippedBytes = 0;

  constructor(
    local: Endpoint,
    remote: Endpoint,
    readonly maxBytes = DEFAULT_MAX_RECORDED_BYTES,
  ) {
    this.conversation = { local, remote, events: [] };
  }

  /** Forgets everything recorded (a retried capture keeps only its last attempt). */
  restart(): void {
    this.conversation.events = [];
    this.conversation.local = { ip: this.conversation.local.ip, port: 0 };
    delete this.conversation.note;
    this.bytes = 0;
    this.unwritten.in = 0;
    this.unwritten.out = 0;
    this.skippedBytes = 0;
  }

  /** True once bytes were skipped. */
  get truncated(): boolean {
    return this.skippedBytes > 0;
  }

  /** Data bytes kept. */
  get keptBytes(): number {
    return this.bytes;
  }

  /** Our side's address, known once the socket is connected. */
  setLocal(local: Endpoint): void {
    this.conversation.local = local;
  }

  connect(): void {
    this.conversation.events.push({ kind: 'connect', timeUs: nowUs() });
  }

  data(dir: 'out' | 'in', chunk: Uint8Array): void {
    if (this.skippedBytes > 0 || this.bytes + chunk.length > this.maxBytes || this.conversation.events.length >= MAX_RECORDED_EVENTS) {
      // Once one chunk is skipped, every later one is too: the kept bytes stay a prefix of the stream.
      this.unwritten[dir] += chunk.length;
      this.skippedBytes += chunk.length;
      return;
    }
    this.bytes += chunk.length;
    this.conversation.events.push({ kind: 'data', dir, timeUs: nowUs(), data: Uint8Array.from(chunk) });
  }

  fin(dir: 'out' | 'in'): void {
    this.writeSkips();
    this.conversation.events.push({ kind: 'fin', dir, timeUs: nowUs() });
  }

  reset(dir: 'out' | 'in'): void {
    this.writeSkips();
    this.conversation.events.push({ kind: 'reset', dir, timeUs: nowUs() });
  }

  /** Turns the bytes skipped so far into `skip` events (called before a FIN or RST, and by the pcap writer's caller). */
  writeSkips(): void {
    const timeUs = nowUs();
    for (const dir of ['out', 'in'] as const) {
      const bytes = this.unwritten[dir];
      if (bytes === 0) continue;
      this.unwritten[dir] = 0;
      this.conversation.events.push({ kind: 'skip', dir, timeUs, bytes });
    }
  }
}
