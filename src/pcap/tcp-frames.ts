/**
 * Turns a Conversation (socket-level events) into the TCP segments a packet capture would have
 * shown: handshake, data split at the MSS with consistent seq/ack numbers, ACKs, FINs and RSTs.
 * Everything is deterministic (the ISNs come from a hash of the endpoints) so output is stable.
 */
import { createHash } from 'node:crypto';
import type { Conversation, ConversationEvent } from './conversation.js';
import { SegmentWriter, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from './tcp-segment.js';

export interface Frame {
  /** Capture time, microseconds since the epoch. */
  timeUs: number;
  /** The whole link-layer (Ethernet) frame. */
  data: Buffer;
}

type Dir = 'out' | 'in';

interface SideState {
  /** Next sequence number this side will send. */
  next: number;
  finSent: boolean;
}

const other = (dir: Dir): Dir => (dir === 'out' ? 'in' : 'out');

/** Deterministic 32-bit values from the endpoints (and the connection's generation on reconnects). */
function seeds(conv: Conversation, generation: number): { isnOut: number; isnIn: number; ipId: number } {
  const h = createHash('sha256')
    .update(`${generation}|${conv.local.ip}|${conv.local.port}|${conv.remote.ip}|${conv.remote.port}`)
    .digest();
  return { isnOut: h.readUInt32BE(0), isnIn: h.readUInt32BE(4), ipId: h.readUInt32BE(8) };
}

/** True if `ev` will make `sender` emit a segment that acknowledges what the other side just sent. */
function piggybacksAck(ev: ConversationEvent | undefined, sender: Dir, state: Record<Dir, SideState>): boolean {
  if (!ev || ev.kind === 'connect' || ev.kind === 'reset' || ev.kind === 'skip' || ev.dir !== sender || state[sender].finSent) return false;
  return ev.kind === 'fin' || ev.data.length > 0;
}

/** The frames of `conv`, one at a time (a pcap is written in pieces, never built whole in memory). */
export function* conversationFrames(conv: Conversation): Generator<Frame> {
  const frames: Frame[] = [];
  let writer: SegmentWriter | undefined;
  let phase: 'idle' | 'open' | 'closed' = 'idle';
  let generation = 0;
  const side: Record<Dir, SideState> = {
    out: { next: 0, finSent: false },
    in: { next: 0, finSent: false },
  };

  const emit = (timeUs: number, dir: Dir, flags: number, seq: number, payload?: Uint8Array): void => {
    const ack = side[other(dir)].next;
    frames.push({ timeUs, data: writer!.frame({ outbound: dir === 'out', seq, ack, flags, payload }) });
  };
  /** A pure ACK from `dir` for everything the other side has sent so far. */
  const ackFrom = (timeUs: number, dir: Dir): void => emit(timeUs, dir, TCP_ACK, side[dir].next);

  const open = (timeUs: number): void => {
    const s = seeds(conv, generation++);
    // One writer per connection; a reconnect gets new ISNs but the same addresses.
    writer = new SegmentWriter(conv.local.ip, conv.local.port, conv.remote.ip, conv.remote.port, s.ipId);
    side.out = { next: s.isnOut, finSent: false };
    side.in = { next: s.isnIn, finSent: false };
    emit(timeUs, 'out', TCP_SYN, side.out.next); // ack field is left 0 without the ACK flag
    side.out.next = (side.out.next + 1) >>> 0;
    emit(timeUs, 'in', TCP_SYN | TCP_ACK, side.in.next);
    side.in.next = (side.in.next + 1) >>> 0;
    ackFrom(timeUs, 'out');
    phase = 'open';
  };

  for (let i = 0; i < conv.events.length; i++) {
    const ev = conv.events[i] as ConversationEvent;
    const t = ev.timeUs;
    handle(ev, i, t);
    yield* frames;
    frames.length = 0;
  }

  function handle(ev: ConversationEvent, i: number, t: number): void {
    switch (ev.kind) {
      case 'connect':
        if (phase !== 'open') open(t);
        return;
      case 'skip':
        // Bytes the recorder counted but did not keep: the sequence numbers jump over them, so a
        // dissector shows "previous segment not captured" where they were.
        if (phase === 'open' && !side[ev.dir].finSent) side[ev.dir].next = (side[ev.dir].next + ev.bytes) >>> 0;
        return;
      case 'data': {
        if (ev.data.length === 0 || phase === 'closed') return;
        if (phase === 'idle') open(t); // data without a connect: still show a handshake
        const me = side[ev.dir];
        if (me.finSent) return; // nothing can follow our own FIN
        const mss = writer!.mss;
        for (let off = 0; off < ev.data.length; off += mss) {
          const chunk = ev.data.subarray(off, Math.min(off + mss, ev.data.length));
          const last = off + mss >= ev.data.length;
          emit(t, ev.dir, TCP_ACK | (last ? TCP_PSH : 0), me.next, chunk);
          me.next = (me.next + chunk.length) >>> 0;
        }
        const peer = other(ev.dir);
        if (!piggybacksAck(conv.events[i + 1], peer, side)) ackFrom(t, peer);
        return;
      }
      case 'fin': {
        if (phase !== 'open' || side[ev.dir].finSent) return;
        const me = side[ev.dir];
        emit(t, ev.dir, TCP_FIN | TCP_ACK, me.next);
        me.next = (me.next + 1) >>> 0;
        me.finSent = true;
        ackFrom(t, other(ev.dir));
        if (side.out.finSent && side.in.finSent) phase = 'closed';
        return;
      }
      case 'reset':
        // A reset before the connection was up is a failed connect: no frames at all.
        if (phase !== 'open') return;
        emit(t, ev.dir, TCP_RST | TCP_ACK, side[ev.dir].next);
        phase = 'closed';
        return;
    }
  }
}
