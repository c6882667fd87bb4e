import type { ServerResponse } from 'node:http';

export interface SseHubOptions {
  /** Live streams at once; one more is refused (503). */
  maxClients: number;
  /** A comment line this often keeps proxies and the browser from timing the stream out. */
  heartbeatMs: number;
  /** A client with more than this many bytes not yet sent gets no new events (they are dropped for it). */
  maxBufferedBytes: number;
  /** A client that had to be skipped this many ticks in a row is disconnected (it reconnects by itself). */
  maxSkippedInARow: number;
}

export interface SseHubStats {
  clients: number;
  accepted: number;
  refused: number;
  /** Streams closed by the hub because their client did not read. */
  closedSlow: number;
  eventsSent: number;
  eventsDropped: number;
}

interface Client {
  res: ServerResponse;
  skipped: number;
}

/**
 * Server-sent events to the dashboard's pages, bounded: at most `maxClients` streams, one event
 * body built once per tick and written to each client, a heartbeat, and per-client backpressure (a
 * client whose socket buffer is full has events dropped, and is closed if it stays full).
 */
export class SseHub {
  private readonly clients = new Set<Client>();
  private readonly counts = { accepted: 0, refused: 0, closedSlow: 0, eventsSent: 0, eventsDropped: 0 };
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly options: SseHubOptions) {}

  get size(): number {
    return this.clients.size;
  }

  stats(): SseHubStats {
    return { clients: this.clients.size, ...this.counts };
  }

  /** Takes over `res` as an event stream; false (and nothing written) when the hub is full. */
  accept(res: ServerResponse, first?: { event: string; data: unknown }): boolean {
    if (this.clients.size >= this.options.maxClients) {
      this.counts.refused++;
      return false;
    }
    this.counts.accepted++;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // The socket stays open for as long as the page does: the heartbeat, not an idle timeout, finds dead peers.
    res.socket?.setTimeout(0);
    const client: Client = { res, skipped: 0 };
    this.clients.add(client);
    res.on('close', () => this.clients.delete(client));
    res.write(`retry: 5000\n\n`);
    if (first) res.write(frame(first.event, first.data));
    this.heartbeat ??= setInterval(() => this.beat(), this.options.heartbeatMs).unref();
    return true;
  }

  /** Sends one event to every client (its body is serialised once). */
  broadcast(event: string, data: unknown): void {
    if (this.clients.size === 0) return;
    const text = frame(event, data);
    for (const c of this.clients) {
      if (c.res.writableLength > this.options.maxBufferedBytes) {
        this.counts.eventsDropped++;
        if (++c.skipped >= this.options.maxSkippedInARow) {
          this.counts.closedSlow++;
          this.clients.delete(c);
          c.res.destroy();
        }
        continue;
      }
      c.skipped = 0;
      c.res.write(text);
      this.counts.eventsSent++;
    }
  }

  private beat(): void {
    if (this.clients.size === 0) {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
      return;
    }
    for (const c of this.clients) if (c.res.writableLength <= this.options.maxBufferedBytes) c.res.write(': heartbeat\n\n');
  }

  /** Ends every stream (the daemon is stopping). */
  close(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
