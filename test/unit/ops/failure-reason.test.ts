import { describe, expect, it } from 'vitest';
import { bitfieldLengthError, captureError, malformedMessageError, socketError } from '../../../src/capture/capture-errors.js';
import { captureFailureReason } from '../../../src/ops/failure-reason.js';

describe('captureFailureReason', () => {
  it('maps each fixed wording to its own label and the families to theirs', () => {
    expect(captureFailureReason(captureError('CONNECT_TIMEOUT').message)).toBe('connect_timeout');
    expect(captureFailureReason(captureError('WRONG_INFOHASH').message)).toBe('wrong_infohash');
    expect(captureFailureReason(captureError('PEER_CLOSED').message)).toBe('peer_closed');
    expect(captureFailureReason(socketError({ code: 'ECONNREFUSED' }).message)).toBe('connection_refused');
    expect(captureFailureReason(socketError({ code: 'EWEIRD' }).message)).toBe('socket_error');
    expect(captureFailureReason(malformedMessageError('have').message)).toBe('protocol');
    expect(captureFailureReason(bitfieldLengthError(7).message)).toBe('bitfield');
    expect(captureFailureReason('internal error: boom')).toBe('internal');
  });

  it('keeps the label set bounded: unknown words (and prototype names) are "other"', () => {
    expect(captureFailureReason('something new')).toBe('other');
    expect(captureFailureReason('constructor')).toBe('other');
    expect(captureFailureReason('')).toBe('other');
  });
});
