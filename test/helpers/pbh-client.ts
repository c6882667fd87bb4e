import { request } from 'node:http';
import { gzipSync } from 'node:zlib';

/** The User-Agent PeerBanHelper v9.5 sends (spec §1.2), with a chosen protocol version. */
export function pbhUserAgent(protocol = 20): string {
  return `PeerBanHelper/v9.5.0 (unknown; Linux,6.8.0,unknown) BTN-Protocol/2.0.1 BTN-Protocol-Version/${protocol}`;
}

/** Every header of spec §1.2 as PeerBanHelper's interceptor sets them. */
export function pbhHeaders(appId: string, appSecret: string, options: { protocol?: number; installationId?: string } = {}): Record<string, string> {
  const h: Record<string, string> = {
    'User-Agent': pbhUserAgent(options.protocol),
    'Content-Type': 'application/json',
    'BTN-AppID': appId,
    'BTN-AppSecret': appSecret,
    'X-BTN-AppID': appId,
    'X-BTN-AppSecret': appSecret,
    Authentication: `Bearer ${appId}@${appSecret}`,
  };
  const placeholder = !appId || !appSecret || appId === 'example-app-id' || appSecret === 'example-app-secret';
  if (placeholder && options.installationId) h['X-BTN-InstallationID'] = options.installationId;
  return h;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): unknown;
}

/**
 * One HTTP request the way OkHttp sends a gzip body of unknown length: Content-Encoding: gzip,
 * Transfer-Encoding: chunked, no Content-Length, the bytes written in several chunks.
 */
export function pbhRequest(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Buffer; gzip?: boolean; chunkSize?: number } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    let payload: Buffer | undefined;
    if (init.body !== undefined) {
      payload = typeof init.body === 'string' ? Buffer.from(init.body, 'utf8') : init.body;
      if (init.gzip ?? true) {
        payload = gzipSync(payload);
        headers['Content-Encoding'] = 'gzip';
      }
      headers['Transfer-Encoding'] = 'chunked';
    }
    const req = request(url, { method: init.method ?? (payload ? 'POST' : 'GET'), headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as unknown });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (payload) {
      const size = init.chunkSize ?? 8192;
      for (let i = 0; i < payload.length; i += size) req.write(payload.subarray(i, i + size));
    }
    req.end();
  });
}

/** Gson's output for an object: nulls kept (`serializeNulls`), doubles with a decimal point where the client has them. */
export function gson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (v === undefined ? null : v));
}
