declare module 'bencode' {
  export function encode(data: unknown): Uint8Array;
  export function decode(data: Uint8Array, start?: number, end?: number, encoding?: string): unknown;
  const bencode: { encode: typeof encode; decode: typeof decode };
  export default bencode;
}
