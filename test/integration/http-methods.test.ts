import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startApi, type ApiFixture } from '../helpers/api-fixture.js';

const KEY = 'key-all-0123456789abcdef';

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One request over a raw socket (to send what fetch will not: no Host, HTTP/1.0); reads until the server closes or 1 s passes. */
function raw(port: number, text: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`no response: ${JSON.stringify(got)}`));
      const [statusLine, ...lines] = got.slice(0, end).split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine?.split(' ')[1]), headers, body: got.slice(end + 4) });
    };
    const timer = setTimeout(done, 1000);
    s.on('data', (d) => {
      got += d.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      const len = /content-length: (\d+)/i.exec(got.slice(0, end))?.[1];
      if (end >= 0 && len !== undefined && got.length - end - 4 >= Number(len)) done();
    });
    s.on('close', done);
    s.on('error', () => undefined);
    s.write(text);
  });
}

let api: ApiFixture;
let port: number;
beforeAll(async () => {
  api = await startApi({ apiKeys: [{ name: 'all', key: KEY }], filters: [{ name: 'a' }] });
  port = Number(new URL(api.url).port);
  api.repos.captures.insertMany(
    Array.from({ length: 20 }, (_, i) => ({ foundAt: 1000 + i, ip: `10.0.0.${i}`, port: 6881, infohash: 'a'.repeat(40), error: 'refused', filters: ['a'] })),
  );
});
afterAll(() => api.close());

describe('HEAD', () => {
  it('HEAD /capture/peers/all/ answers the headers of the GET without running the query or building the body', async () => {
    const page = vi.spyOn(api.repos.captures, 'page');
    try {
      const head = await fetch(`${api.url}/capture/peers/all/?key=${KEY}&filter=a&from=0`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(await head.text()).toBe('');
      expect(page).not.toHaveBeenCalled();
      const get = await fetch(`${api.url}/capture/peers/all/?key=${KEY}&filter=a&from=0`);
      expect(get.status).toBe(200);
      expect(((await get.json()) as { peers: unknown[] }).peers).toHaveLength(20);
      expect(page).toHaveBeenCalledTimes(1);
    } finally {
      page.mockRestore();
    }
  });

  it('HEAD still checks the key and the parameters: the status a GET would get, with the error body left out', async () => {
    const page = vi.spyOn(api.repos.captures, 'page');
    try {
      for (const [query, status] of [
        [`key=nope-nope-nope-nope&filter=a&from=0`, 401],
        [`key=${KEY}&filter=a`, 400],
        [`key=${KEY}&filter=zzz&from=0`, 404],
      ] as const) {
        const res = await fetch(`${api.url}/capture/peers/all/?${query}`, { method: 'HEAD' });
        expect(res.status, query).toBe(status);
        expect(await res.text()).toBe('');
      }
      expect(page).not.toHaveBeenCalled();
    } finally {
      page.mockRestore();
    }
  });

  it.each([
    ['/capture/filters/', `key=${KEY}`, 'application/json; charset=utf-8'],
    ['/torrents/state/', `key=${KEY}&infohash=${'b'.repeat(40)}`, 'application/json; charset=utf-8'],
  ])('HEAD %s → 200 with the GET Content-Type, no body', async (path, query, type) => {
    const res = await fetch(`${api.url}${path}?${query}`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(type);
    expect(await res.text()).toBe('');
  });
});

describe('405 with Allow for a method a path does not answer', () => {
  it.each([
    ['POST', '/capture/peers/all/', 'GET, HEAD'],
    ['DELETE', '/capture/peers/all', 'GET, HEAD'],
    ['PUT', '//capture//filters/', 'GET, HEAD'],
    ['GET', '/capture/filters/addInfohash/', 'POST'],
    ['GET', '/capture/filters/deleteInfohash', 'POST'],
    ['PUT', '/torrents/addTorrent/', 'POST'],
    ['GET', '/torrents/addInfohash/', 'POST'],
    ['PATCH', '/torrents/state/', 'GET, HEAD'],
    ['OPTIONS', '/capture/pcap/', 'GET, HEAD'],
  ])('%s %s → 405, Allow: %s, JSON body', async (method, path, allow) => {
    const res = await fetch(`${api.url}${path}?key=${KEY}`, { method });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe(allow);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ error: 'METHOD_NOT_ALLOWED', message: expect.stringContaining(allow) });
  });

  it('an unknown path stays 404 NOT_FOUND, whatever the method', async () => {
    for (const method of ['GET', 'POST', 'DELETE']) {
      const res = await fetch(`${api.url}/capture/nothing/?key=${KEY}`, { method });
      expect(res.status).toBe(404);
      expect(res.headers.get('allow')).toBeNull();
      expect(((await res.json()) as { error: string }).error).toBe('NOT_FOUND');
    }
  });
});

describe('Host header', () => {
  it("an HTTP/1.1 request without Host → 400 with the API's JSON error body (not Node's empty 400)", async () => {
    const res = await raw(port, `GET /capture/filters/?key=${KEY} HTTP/1.1\r\n\r\n`);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(res.body)).toEqual({ error: 'INVALID_PARAMETER', message: expect.stringMatching(/Host/) });
  });

  it('HTTP/1.0 without Host, and HTTP/1.1 with it, are answered', async () => {
    expect((await raw(port, `GET /capture/filters/?key=${KEY} HTTP/1.0\r\n\r\n`)).status).toBe(200);
    expect((await raw(port, `GET /capture/filters/?key=${KEY} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)).status).toBe(200);
  });
});
