import dgram from 'node:dgram';
import { once } from 'node:events';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ReverseDns, cleanHostname, type ReverseDnsOptions } from '../../../src/capture/reverse-dns.js';

/**
 * A tiny authoritative DNS server on 127.0.0.1 for PTR queries of 127.x.y.z:
 * - 127.0.0.99 never answers (timeouts);
 * - 127.0.0.98 answers NXDOMAIN; 127.0.0.97 answers SERVFAIL;
 * - 127.0.0.96 answers with a name that is not a hostname;
 * - any other 127.x.y.z answers `host-x-y-z.loopback.test`.
 */
class TinyDns {
  readonly socket = dgram.createSocket('udp4');
  /** Queried addresses (as dotted IPs), in order. */
  readonly queries: string[] = [];

  async start(): Promise<number> {
    this.socket.on('message', (msg, rinfo) => {
      const reply = this.answer(msg);
      if (reply !== undefined) this.socket.send(reply, rinfo.port, rinfo.address);
    });
    this.socket.bind(0, '127.0.0.1');
    await once(this.socket, 'listening');
    return this.socket.address().port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  private answer(query: Buffer): Buffer | undefined {
    if (query.length < 12) return undefined;
    const labels: string[] = [];
    let at = 12;
    while (at < query.length && query[at] !== 0) {
      const len = query[at] as number;
      labels.push(query.subarray(at + 1, at + 1 + len).toString('latin1').toLowerCase());
      at += 1 + len;
    }
    const questionEnd = at + 1 + 4; // zero label, QTYPE, QCLASS
    const qtype = query.readUInt16BE(at + 1);
    const question = query.subarray(12, questionEnd);
    const isPtr4 = qtype === 12 && labels.length === 6 && labels[4] === 'in-addr' && labels[5] === 'arpa';
    // IPv6: 32 nibbles, lowest first, then ip6.arpa (RFC 3596)
    const isPtr6 = qtype === 12 && labels.length === 34 && labels[32] === 'ip6' && labels[33] === 'arpa';
    const isPtr = isPtr4 || isPtr6;
    const nibbles = isPtr6 ? labels.slice(0, 32).reverse().join('') : '';
    const ip = isPtr4 ? labels.slice(0, 4).reverse().join('.') : isPtr6 ? `v6:${nibbles}` : '';
    this.queries.push(ip);
    if (isPtr6) return this.reply(query, question, 0, nibbles === 'fd0000cd000000000000000000000002' ? 'v6-peer.loopback.test' : undefined);
    if (ip === '127.0.0.99') return undefined;
    let rcode = 0;
    let target: string | undefined;
    if (!isPtr || !ip.startsWith('127.') || ip === '127.0.0.98') rcode = 3;
    else if (ip === '127.0.0.97') rcode = 2;
    else if (ip === '127.0.0.96') target = 'not a host name!';
    else target = `host-${ip.split('.').slice(1).join('-')}.loopback.test`;
    return this.reply(query, question, rcode, target);
  }

  private reply(query: Buffer, question: Buffer, rcode: number, target: string | undefined): Buffer {
    if (target === undefined && rcode === 0) rcode = 3;
    const header = Buffer.alloc(12);
    header.writeUInt16BE(query.readUInt16BE(0), 0); // id
    header.writeUInt16BE(0x8180 | rcode, 2); // QR, RD, RA + rcode
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(target === undefined ? 0 : 1, 6);
    if (target === undefined) return Buffer.concat([header, question]);
    const rdata = Buffer.concat([
      ...target.split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label, 'latin1')])),
      Buffer.from([0]),
    ]);
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question name
    rr.writeUInt16BE(12, 2); // PTR
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(60, 6); // TTL
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([header, question, rr, rdata]);
  }
}

const dns = new TinyDns();
let servers: string[] = [];

beforeAll(async () => {
  const port = await dns.start();
  servers = [`127.0.0.1:${port}`];
});

afterAll(async () => {
  await dns.stop();
});

beforeEach(() => {
  dns.queries.length = 0;
});

function make(options: Partial<ReverseDnsOptions> = {}): ReverseDns {
  return new ReverseDns({ enabled: true, timeoutMs: 300, servers, maxPerSecond: 100, ...options });
}

describe('ReverseDns', () => {
  it('resolves the PTR name of an IPv6 peer (ip6.arpa)', async () => {
    const rdns = make();
    expect(await rdns.lookup('fd00:cd::2')).toBe('v6-peer.loopback.test');
    expect(dns.queries).toEqual(['v6:fd0000cd000000000000000000000002']);
    expect(await rdns.lookup('fd00:cd::3')).toBe('');
  });

  it('resolves a PTR name and caches it', async () => {
    const rdns = make();
    expect(await rdns.lookup('127.0.1.2')).toBe('host-0-1-2.loopback.test');
    expect(await rdns.lookup('127.0.1.2')).toBe('host-0-1-2.loopback.test');
    expect(dns.queries).toEqual(['127.0.1.2']);
    expect(rdns.stats()).toMatchObject({ lookups: 2, queries: 1, resolved: 1, cacheHits: 1, cacheSize: 1, inFlight: 0 });
  });

  it('answers "" for NXDOMAIN, SERVFAIL and junk names, and caches those too', async () => {
    const rdns = make();
    expect(await rdns.lookup('127.0.0.98')).toBe('');
    expect(await rdns.lookup('127.0.0.97')).toBe('');
    expect(await rdns.lookup('127.0.0.96')).toBe('');
    expect(await rdns.lookup('127.0.0.98')).toBe('');
    expect(await rdns.lookup('127.0.0.97')).toBe('');
    expect(dns.queries).toEqual(['127.0.0.98', '127.0.0.97', '127.0.0.96']);
    // c-ares' gethostbyaddr (behind resolver.reverse) reports SERVFAIL as ENOTFOUND too.
    expect(rdns.stats()).toMatchObject({ notFound: 3, errors: 0, cacheHits: 2 });
  });

  it('keeps failures for a shorter time than names', async () => {
    const rdns = make({ cacheTtlMs: 10_000, negativeTtlMs: 50 });
    await rdns.lookup('127.0.1.3');
    await rdns.lookup('127.0.0.98');
    await new Promise((resolve) => setTimeout(resolve, 80));
    await rdns.lookup('127.0.1.3');
    await rdns.lookup('127.0.0.98');
    expect(dns.queries).toEqual(['127.0.1.3', '127.0.0.98', '127.0.0.98']);
  });

  it('expires names after the TTL', async () => {
    const rdns = make({ cacheTtlMs: 50 });
    await rdns.lookup('127.0.1.4');
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(await rdns.lookup('127.0.1.4')).toBe('host-0-1-4.loopback.test');
    expect(dns.queries).toEqual(['127.0.1.4', '127.0.1.4']);
  });

  it('times out on a server that never answers, and caches the failure', async () => {
    const rdns = make({ timeoutMs: 200 });
    const t0 = performance.now();
    expect(await rdns.lookup('127.0.0.99')).toBe('');
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(2000);
    expect(rdns.stats()).toMatchObject({ timeouts: 1, inFlight: 0 });
    expect(await rdns.lookup('127.0.0.99')).toBe('');
    expect(rdns.stats().queries).toBe(1);
  });

  it('a timeout does not cancel other lookups in flight', async () => {
    const rdns = make({ timeoutMs: 200 });
    const slow = rdns.lookup('127.0.0.99');
    const fast = rdns.lookup('127.0.1.5');
    expect(await Promise.all([slow, fast])).toEqual(['', 'host-0-1-5.loopback.test']);
  });

  it('rate-limits queries with a token bucket', async () => {
    const rdns = make({ maxPerSecond: 2 });
    const names = await Promise.all(['127.0.2.1', '127.0.2.2', '127.0.2.3'].map((ip) => rdns.lookup(ip)));
    expect(names).toEqual(['host-0-2-1.loopback.test', 'host-0-2-2.loopback.test', '']);
    expect(rdns.stats()).toMatchObject({ queries: 2, rateLimited: 1 });
    // Cache hits cost no token.
    expect(await rdns.lookup('127.0.2.1')).toBe('host-0-2-1.loopback.test');
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await rdns.lookup('127.0.2.3')).toBe('host-0-2-3.loopback.test');
  });

  it('coalesces concurrent lookups of one address into one query', async () => {
    const rdns = make();
    const names = await Promise.all([1, 2, 3].map(() => rdns.lookup('127.0.3.1')));
    expect(names).toEqual(Array(3).fill('host-0-3-1.loopback.test'));
    expect(dns.queries).toEqual(['127.0.3.1']);
    expect(rdns.stats()).toMatchObject({ coalesced: 2, queries: 1 });
  });

  it('evicts the least recently used name when full', async () => {
    const rdns = make({ cacheSize: 2 });
    await rdns.lookup('127.0.4.1');
    await rdns.lookup('127.0.4.2');
    await rdns.lookup('127.0.4.1'); // 4.1 is now the most recent
    await rdns.lookup('127.0.4.3'); // evicts 4.2
    await rdns.lookup('127.0.4.1');
    await rdns.lookup('127.0.4.2');
    expect(dns.queries).toEqual(['127.0.4.1', '127.0.4.2', '127.0.4.3', '127.0.4.2']);
    expect(rdns.stats().cacheSize).toBe(2);
  });

  it('answers "" when disabled, for a non-IP, and when aborted', async () => {
    expect(await make({ enabled: false }).lookup('127.0.5.1')).toBe('');
    const rdns = make({ timeoutMs: 2000 });
    expect(await rdns.lookup('not an ip')).toBe('');
    expect(await rdns.lookup('127.0.5.2', AbortSignal.abort())).toBe('');
    const controller = new AbortController();
    const t0 = performance.now();
    const pending = rdns.lookup('127.0.0.99', controller.signal);
    setTimeout(() => controller.abort(), 50);
    expect(await pending).toBe('');
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(dns.queries).toEqual(['127.0.0.99']);
    expect(rdns.stats()).toMatchObject({ invalid: 1, aborted: 2 });
  });

  it('rejects invalid server strings at construction', () => {
    expect(() => make({ servers: ['not a server'] })).toThrow();
  });

  it('leaves no timers or sockets behind', async () => {
    const rdns = make({ timeoutMs: 150 });
    const count = (): number => process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap').length;
    const before = count();
    await Promise.all(['127.0.6.1', '127.0.6.2', '127.0.0.99', '127.0.0.98'].map((ip) => rdns.lookup(ip)));
    let after = count();
    for (let i = 0; i < 50 && after > before; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      after = count();
    }
    expect(after).toBeLessThanOrEqual(before);
  });
});

describe('cleanHostname', () => {
  it('keeps host names, lowercased, without the trailing dot', () => {
    expect(cleanHostname('Host-1.Example.NET.')).toBe('host-1.example.net');
    expect(cleanHostname('_dmarc.example.com')).toBe('_dmarc.example.com');
  });

  it('drops anything else', () => {
    expect(cleanHostname('')).toBe('');
    expect(cleanHostname('a b.example')).toBe('');
    expect(cleanHostname('evil\u0000.example')).toBe('');
    expect(cleanHostname(`${'a'.repeat(64)}.example`)).toBe('');
    expect(cleanHostname(`${'a.'.repeat(127)}ab`)).toBe('');
  });
  it('close() ends the queries in flight at once, so nothing keeps the process alive after the daemon stops', async () => {
    const rdns = make({ timeoutMs: 5_000 });
    const t0 = performance.now();
    const pending = rdns.lookup('127.0.0.99'); // never answered
    await new Promise((r) => setTimeout(r, 20));
    expect(rdns.stats().inFlight).toBe(1);
    const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    rdns.close();
    expect(await pending).toBe('');
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(rdns.stats().inFlight).toBe(0);
    // Its 5 s timer is gone (the one that held the process open for up to timeoutMs after stop).
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThan(timers);
  });
});
