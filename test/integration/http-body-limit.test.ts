import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type ApiFixture } from '../helpers/api-fixture.js';

const KEY = 'key-all-0123456789abcdef';
const TWO_MB = 2 * 1024 * 1024;
const CHUNK = 64 * 1024;

type Outcome = { kind: 'response'; status: number; headers: string; body: string } | { kind: 'reset'; code: string };

/**
 * One POST over a raw socket, the body written in 64 KiB chunks as fast as the socket takes them
 * (like a client on a real network: still sending when the server answers). The outcome is the
 * complete response if one was read, else the socket error (a reset).
 */
function rawPost(port: number, head: string, body: { length: number; chunked?: boolean; prefix?: string }): Promise<Outcome> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    let done = false;
    const parse = (): Outcome | undefined => {
      const text = got.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return undefined;
      const headers = text.slice(0, end);
      const len = Number(/content-length: (\d+)/i.exec(headers)?.[1] ?? NaN);
      if (!(text.length - end - 4 >= len)) return undefined;
      return { kind: 'response', status: Number(headers.slice(9, 12)), headers: headers.toLowerCase(), body: text.slice(end + 4, end + 4 + len) };
    };
    const finish = (o: Outcome): void => {
      if (done) return;
      done = true;
      s.destroy();
      resolve(o);
    };
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      const r = parse();
      if (r) finish(r);
    });
    s.on('error', (e: NodeJS.ErrnoException) => finish(parse() ?? { kind: 'reset', code: e.code ?? String(e) }));
    s.on('close', () => finish(parse() ?? { kind: 'reset', code: 'closed without a response' }));
    s.write(`${head}${body.chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${body.length}`}\r\nHost: 127.0.0.1\r\n\r\n`);
    const chunk = Buffer.alloc(CHUNK, 0x61);
    if (body.prefix) chunk.write(body.prefix, 'latin1');
    let sent = 0;
    const next = (): void => {
      if (done) return;
      if (sent >= body.length) {
        if (body.chunked) s.write('0\r\n\r\n');
        return;
      }
      const data = sent === 0 ? chunk : chunk.fill(0x61);
      sent += data.length;
      let ok: boolean;
      if (body.chunked) {
        s.write(`${data.length.toString(16)}\r\n`);
        s.write(data);
        ok = s.write('\r\n');
      } else {
        ok = s.write(data);
      }
      if (ok) setImmediate(next);
      else s.once('drain', next);
    };
    next();
  });
}

describe('a body over the limit: the client reads the 413, never a connection reset', () => {
  let api: ApiFixture;
  let port: number;
  beforeAll(async () => {
    // Form bodies are limited to 64 KiB, uploads to http.bodyLimitBytes (1 MiB here).
    api = await startApi({ apiKeys: [{ name: 'all', key: KEY }], filters: [{ name: 'a' }], http: { bodyLimitBytes: 1024 * 1024 } });
    port = Number(new URL(api.url).port);
  });
  afterAll(() => api.close());

  const MULTIPART = '--XyZ\r\nContent-Disposition: form-data; name="torrent"; filename="big.torrent"\r\nContent-Type: application/x-bittorrent\r\n\r\n';
  const cases: Array<[string, string, boolean, string?]> = [
    ['form body (over the 64 KiB form limit)', `POST /capture/filters/addInfohash/?key=${KEY} HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n`, false],
    ['raw .torrent upload (over http.bodyLimitBytes)', `POST /torrents/addTorrent/?key=${KEY} HTTP/1.1\r\nContent-Type: application/x-bittorrent\r\n`, false],
    ['form body sent chunked (no Content-Length)', `POST /capture/filters/addInfohash/?key=${KEY} HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n`, true],
    ['multipart upload (file over http.bodyLimitBytes)', `POST /torrents/addTorrent/?key=${KEY} HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n`, false, MULTIPART],
  ];

  it.each(cases)('%s: 2 MB posted 25 times → 25 × 413 PAYLOAD_TOO_LARGE, 0 resets', async (_name, head, chunked, prefix) => {
    const outcomes: Outcome[] = [];
    for (let i = 0; i < 25; i++) outcomes.push(await rawPost(port, head, { length: TWO_MB, chunked, prefix }));
    const resets = outcomes.filter((o) => o.kind === 'reset');
    expect(resets).toEqual([]);
    for (const o of outcomes) {
      if (o.kind !== 'response') continue;
      expect(o.status).toBe(413);
      expect(o.headers).toContain('connection: close');
      expect(JSON.parse(o.body)).toEqual({ error: 'PAYLOAD_TOO_LARGE', message: expect.any(String) });
    }
    // The server still answers afterwards.
    const res = await fetch(`${api.url}/capture/filters/?key=${KEY}`);
    expect(res.status).toBe(200);
  });

  it('a declared length far beyond the bound is answered at once, not read (the bound holds)', async () => {
    const t0 = Date.now();
    const s = net.connect(port, '127.0.0.1');
    const answer = await new Promise<string>((resolve) => {
      let got = '';
      s.on('data', (d) => (got += d.toString('latin1')));
      s.on('close', () => resolve(got));
      s.on('error', () => undefined);
      s.write(`POST /capture/filters/addInfohash/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${10 * 1024 * 1024 * 1024}\r\n\r\n`);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('a multipart body cut short (under the limit) → 400 INVALID_PARAMETER, not a 500', async () => {
    const body = `--XyZ\r\nContent-Disposition: form-data; name="torrent"; filename="a.torrent"\r\nContent-Type: application/x-bittorrent\r\n\r\nd4:infod`;
    const res = await fetch(`${api.url}/torrents/addTorrent/?key=${KEY}`, { method: 'POST', body, headers: { 'content-type': 'multipart/form-data; boundary=XyZ' } });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'INVALID_PARAMETER', message: expect.stringMatching(/^malformed multipart body/) });
  });
});
