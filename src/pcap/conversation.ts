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

/** Collects a conversation's events; a capture passes one to its socket taps. Bounded by maxBytes. */
export class ConversationRecorder {
  readonly conversation: Conversation;
  private bytes = 0;
  truncated = false;

  constructor(local: Endpoint, remote: Endpoint, private readonly maxBytes = 4 * 1024 * 1024) {
    this.conversation = { local, remote, events: [] };
  }

  /** Forgets everything recorded (a retried capture keeps only its last attempt). */
  restart(): void {
    this.conversation.events = [];
    this.conversation.local = { ip: this.conversation.local.ip, port: 0 };
    delete this.conversation.note;
    this.bytes = 0;
    this.truncated = false;
  }

  /** Our side's address, known once the socket is connected. */
  setLocal(local: Endpoint): void {
    this.conversation.local = local;
  }

  connect(): void {
    this.conversation.events.push({ kind: 'connect', timeUs: nowUs() });
  }

  data(dir: 'out' | 'in', chunk: Uint8Array): void {
    if (this.bytes + chunk.length > this.maxBytes) {
      this.truncated = true;
      return;
    }
    this.bytes += chunk.length;
    this.conversation.events.push({ kind: 'data', dir, timeUs: nowUs(), data: Uint8Array.from(chunk) });
  }

  fin(dir: 'out' | 'in'): void {
    this.conversation.events.push({ kind: 'fin', dir, timeUs: nowUs() });
  }

  reset(dir: 'out' | 'in'): void {
    this.conversation.events.push({ kind: 'reset', dir, timeUs: nowUs() });
  }
}
