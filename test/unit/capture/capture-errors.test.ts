import { describe, expect, it } from 'vitest';
import { CaptureError, captureError, socketError } from '../../../src/capture/capture-errors.js';

describe('capture errors', () => {
  it('the fixed-wording errors (what peers do) carry no stack trace, and the stack trace limit is left as it was', () => {
    const limit = Error.stackTraceLimit;
    const err = captureError('PEER_CLOSED');
    expect(err).toBeInstanceOf(CaptureError);
    expect(err.code).toBe('PEER_CLOSED');
    expect(err.message).toBe('peer closed the connection');
    expect(err.stack).not.toMatch(/\n\s+at /);
    const reset = socketError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    expect(reset.code).toBe('CONNECTION_RESET');
    expect(reset.stack).not.toMatch(/\n\s+at /);
    expect(Error.stackTraceLimit).toBe(limit);
    expect(new Error('x').stack).toMatch(/\n\s+at /);
  });
});
