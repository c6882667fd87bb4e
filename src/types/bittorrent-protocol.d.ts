/**
 * The parts of bittorrent-protocol 5 (webtorrent's peer wire, a streamx Duplex) that the daemon
 * uses. The package ships no types. Writes are processed a microtask later (streamx), and the
 * wire never emits 'error' on its own.
 */
declare module 'bittorrent-protocol' {
  /** Reserved-bit extensions from a handshake (BEP 5 dht, BEP 6 fast, BEP 10 extended). */
  export interface WireExtensions {
    dht: boolean;
    fast: boolean;
    extended: boolean;
  }

  /** A BEP 10 extension handler, as `wire.use()` instantiates it with the wire. */
  export interface WireExtension {
    onHandshake?(infoHash: string, peerId: string, extensions: WireExtensions): void;
    onExtendedHandshake?(handshake: Record<string, unknown>): void;
    onMessage?(payload: Uint8Array): void;
  }

  export interface WireExtensionConstructor {
    new (wire: Wire): WireExtension;
    prototype: WireExtension & { name: string };
  }

  /** The remote peer's pieces as the wire tracks them (a `bitfield` BitField, or "have all"). */
  export interface WirePieces {
    buffer: Uint8Array;
    get(index: number): boolean;
  }

  export default class Wire {
    constructor(type?: string, peEnabled?: number);

    /** Remote peer id, hex; null before the handshake. */
    peerId: string | null;
    peerIdBuffer: Uint8Array | null;
    /** Our reserved bits as sent, and the peer's as received. */
    extensions: Partial<WireExtensions>;
    peerExtensions: Partial<WireExtensions>;
    /** True when both sides set the BEP 6 bit. */
    hasFast: boolean;
    /** Our extended handshake minus `m` (filled from `use()`d extensions when sent). */
    extendedHandshake: Record<string, unknown>;
    peerExtendedHandshake: Record<string, unknown>;
    /** Extension name → the peer's id for it. */
    peerExtendedMapping: Record<string, number>;
    /** Our id → extension name. */
    extendedMapping: Record<number, string>;
    peerPieces: WirePieces;
    readonly destroyed: boolean;

    use(extension: WireExtensionConstructor): void;
    handshake(infoHash: Uint8Array | string, peerId: Uint8Array | string, extensions?: { dht?: boolean; fast?: boolean }): void;
    extended(ext: number | string, payload: Uint8Array | Record<string, unknown>): void;
    keepAlive(): void;
    choke(): void;
    unchoke(): void;
    interested(): void;
    uninterested(): void;
    have(index: number): void;
    bitfield(bitfield: Uint8Array): void;
    haveAll(): void;
    haveNone(): void;
    setKeepAlive(enable: boolean): void;
    /** MSE/PE (with `peEnabled` 1 or 2): start as initiator for this hex infohash. */
    startEncryption(infoHash: string): void;
    /** MSE/PE responder: the torrent that 'crypto-infohash' (HASH('req2', SKEY), hex) named. */
    setInfoHash(infoHash: string): void;

    /** Bytes received from the peer, to be parsed. */
    write(chunk: Uint8Array): boolean;
    /** Ends the wire (bittorrent-protocol's destroy() is an alias of end()). */
    end(): void;
    destroy(): void;

    on(event: 'data', listener: (chunk: Uint8Array) => void): this;
    on(event: 'handshake', listener: (infoHash: string, peerId: string, extensions: WireExtensions) => void): this;
    on(event: 'bitfield', listener: (pieces: WirePieces) => void): this;
    on(event: 'have', listener: (index: number) => void): this;
    on(event: 'have-all' | 'have-none' | 'close' | 'finish' | 'end', listener: () => void): this;
    on(event: 'extended', listener: (ext: string | number, payload: unknown) => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
    on(event: string, listener: (...args: unknown[]) => void): this;
    once(event: string, listener: (...args: unknown[]) => void): this;
    removeAllListeners(event?: string): this;
  }
}
