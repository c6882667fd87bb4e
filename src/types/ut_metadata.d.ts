/**
 * ut_metadata 4 (webtorrent's BEP 9 extension for bittorrent-protocol). The package ships no
 * types. The daemon only uses it in tests, to serve metadata from synthetic peers; the capture
 * fetches metadata with its own implementation (src/capture/metadata-fetch.ts).
 */
declare module 'ut_metadata' {
  import type { WireExtensionConstructor } from 'bittorrent-protocol';

  /** Returns the extension class; given the info dictionary, it serves it to peers. */
  export default function utMetadata(metadata?: Uint8Array): WireExtensionConstructor;
}
