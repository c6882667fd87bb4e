import type { IncomingMessage } from 'node:http';

export interface DiscardLimits {
  /** Read and throw away at most this many more bytes. */
  maxBytes: number;
  /** Give up after this long. */
  timeoutMs: number;
}

/**
 * Reads and discards what is left of a request body (a body refused as too large), so that the
 * error response can be read by the client: closing a socket with unread data makes the kernel
 * answer with a TCP reset, and a client still sending gets "connection reset" instead of the
 * response (RFC 9112 §9.6). Bounded in bytes and time; resolves true when the body ended, false
 * when a bound was hit (the caller then closes anyway).
 */
export function discardRequestBody(req: IncomingMessage, limits: DiscardLimits): Promise<boolean> {
  if (req.complete || req.readableEnded) return Promise.resolve(true);
  const declared = Number(req.headers['content-length']);
  // A declared length beyond the bound: reading it would only delay the inevitable close.
  if (Number.isFinite(declared) && declared > limits.maxBytes + (req.socket?.bytesRead ?? 0)) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    let discarded = 0;
    const finish = (ended: boolean): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onClose);
      req.off('close', onClose);
      resolve(ended);
    };
    const onData = (chunk: Buffer): void => {
      discarded += chunk.length;
      if (discarded > limits.maxBytes) finish(false);
    };
    const onEnd = (): void => finish(true);
    const onClose = (): void => finish(req.complete);
    const timer = setTimeout(() => finish(false), limits.timeoutMs);
    timer.unref();
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onClose);
    req.once('close', onClose);
    req.resume();
  });
}
