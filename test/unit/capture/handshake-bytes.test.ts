import Wire from 'bittorrent-protocol';
import { describe, expect, it } from 'vitest';
import { handshakeBytes, makePeerId } from '../../../src/capture/peer-capture.js';

describe('handshakeBytes', () => {
  it("is byte for byte the handshake bittorrent-protocol's Wire builds (BEP 10 and BEP 6 advertised, no DHT)", async () => {
    const infohash = Buffer.from('e2c0'.repeat(10), 'hex');
    const peerId = makePeerId();
    const wire = new Wire('tcpOutgoing');
    const first = new Promise<Uint8Array>((resolve) => wire.once('data', (chunk) => resolve(chunk as Uint8Array)));
    wire.handshake(infohash, peerId, { fast: true, dht: false });
    const fromWire = Buffer.from(await first);
    wire.destroy();
    expect(fromWire.length).toBe(68);
    expect(handshakeBytes(infohash, peerId).equals(fromWire)).toBe(true);
  });
});
