import { clientName, sanitizeClientVersion } from '../protocol/client-name.js';
import type { MetadataResult } from './metadata-fetch.js';
import type { PeerCaptureOutcome } from './peer-capture-types.js';
import type { PeerMessages } from './peer-messages.js';

/** How the observation of a peer that completed its handshake ended. */
export type Ending = 'complete' | 'window' | 'idle' | 'total' | 'peer-closed';

export interface ReportFacts {
  messages: PeerMessages;
  pieceCount: number | undefined;
  peerId: Uint8Array;
  fetchMetadata: boolean;
  metadataResult: MetadataResult | undefined;
  ending: Ending;
  idleTimeoutMs: number;
  totalTimeoutMs: number;
  pieceStateWaitMs: number;
}

const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(1))} s`;

/**
 * The successful outcome of a capture: the counts (throws the bitfield error if the bitfield does
 * not fit the piece count) and the notes that say what the counts cannot: a metadata error and an
 * unknown piece count (never a "seeder" of 0 pieces), a peer that said nothing after its
 * handshake, an observation cut short by silence or the total deadline.
 */
export function captureReport(f: ReportFacts): Extract<PeerCaptureOutcome, { ok: true }> {
  const { messages, pieceCount } = f;
  const pieces = messages.pieces;
  const { hasPieces, hasTotal, outOfRangeHaves } = pieces.summary(pieceCount);
  const metadata = f.metadataResult?.ok === true ? f.metadataResult.metadata : undefined;
  const metadataError = f.fetchMetadata && f.metadataResult?.ok === false ? f.metadataResult.error : undefined;
  const notes: string[] = [];
  if (metadataError !== undefined) notes.push(metadataError);
  if (pieceCount === undefined) {
    notes.push(
      pieces.saidHaveAll
        ? 'piece count unknown (no metadata): the peer says it has every piece (have_all)'
        : 'piece count unknown (no metadata): pieces counted from the bitfield as sent',
    );
  }
  if (!pieces.announced && messages.haves === 0) {
    notes.push(
      messages.silent
        ? 'the peer sent nothing after its handshake'
        : `no bitfield, have_all, have_none or HAVE from the peer (waited ${seconds(f.pieceStateWaitMs)}): 0 pieces assumed`,
    );
  }
  if (f.ending === 'idle') notes.push(`observation ended: nothing received for ${seconds(f.idleTimeoutMs)}`);
  else if (f.ending === 'total') notes.push(`observation ended at the total timeout (${seconds(f.totalTimeoutMs)})`);
  else if (f.ending === 'peer-closed') notes.push('the peer closed the connection during the observation');
  if (outOfRangeHaves > 0) notes.push(`${outOfRangeHaves} HAVE messages outside the torrent ignored`);
  const extendedVersion = sanitizeClientVersion(messages.extendedV);
  return {
    ok: true,
    date: Date.now(),
    hasPieces,
    pieceCount,
    hasTotal,
    clientName: clientName(messages.extendedV, f.peerId),
    peerIdHex: Buffer.from(f.peerId).toString('hex'),
    ...(extendedVersion !== undefined ? { extendedVersion } : {}),
    ...(metadata !== undefined ? { metadata } : {}),
    ...(metadataError !== undefined ? { metadataError } : {}),
    ...(outOfRangeHaves > 0 ? { outOfRangeHaves } : {}),
    ...(notes.length > 0 ? { notes } : {}),
    ...(messages.silent ? { silent: true as const } : {}),
    durationMs: 0,
  };
}
