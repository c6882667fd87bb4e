import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SseHub } from '../../../src/ops/dashboard/sse-hub.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

async function serve(hub: SseHub): Promise<number> {
  const server: Server = createServer((_req, res) => {
    if (!hub.accept(res, { event: 'hello', data: { n: 0 } })) res.writeHead(503).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    hub.close();
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as { port: number }).port;
}

/** A raw client: sends the request, and reads (or not: `paused`) what comes back. */
function client(port: number, paused = false): Promise<{ socket: Socket; text: () => string }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('error', () => {});
    socket.setNoDelay(true);
    socket.once('connect', () => {
      socket.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n');
      if (paused) socket.pause();
      else socket.on('data', (d: Buffer) => (text += d.toString()));
      resolve({ socket, text: () => text });
    });
    cleanups.push(() => socket.destroy());
  });
}

const until = async (cond: () => boolean, ms = 20_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('SseHub (the dashboard live stream)', () => {
  it('sends each event to every client, heartbeats, and refuses one client past maxClients', async () => {
    const hub = new SseHub({ maxClients: 2, heartbeatMs: 100, maxBufferedBytes: 64 * 1024, maxSkippedInARow: 3 });
    const port = await serve(hub);
    const a = await client(port);
    const b = await client(port);
    await until(() => hub.size === 2);
    const c = await client(port);
    await until(() => c.text().startsWith('HTTP/1.1 503'));
    hub.broadcast('live', { n: 1 });
    await until(() => a.text().includes('event: live\ndata: {"n":1}\n\n') && b.text().includes('data: {"n":1}'));
    expect(a.text()).toContain('content-type: text/event-stream');
    expect(a.text()).toContain('event: hello\ndata: {"n":0}');
    await until(() => a.text().includes(': heartbeat'));
    expect(hub.stats()).toMatchObject({ clients: 2, accepted: 2, refused: 1, eventsSent: 2, eventsDropped: 0 });
    a.socket.destroy();
    await until(() => hub.size === 1);
  });

  it('drops events for a client that does not read, then closes it; a reading client gets every event', async () => {
    const hub = new SseHub({ maxClients: 4, heartbeatMs: 60_000, maxBufferedBytes: 16 * 1024, maxSkippedInARow: 3 });
    const port = await serve(hub);
    await client(port, true); // never reads
    const fast = await client(port);
    await until(() => hub.size === 2);
    const big = { pad: 'x'.repeat(64 * 1024) };
    let sent = 0;
    // The stalled socket's kernel buffers fill first; then its writes queue in Node and it is skipped.
    while (hub.stats().closedSlow === 0 && sent < 2000) {
      hub.broadcast('live', big);
      sent++;
      await new Promise((r) => setTimeout(r, 5));
    }
    const s = hub.stats();
    expect(s.closedSlow).toBe(1);
    expect(s.eventsDropped).toBe(3);
    expect(hub.size).toBe(1);
    await until(() => fast.text().split('event: live').length - 1 === sent);
  });
});
