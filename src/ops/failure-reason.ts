/**
 * A capture's failure words (the report's `error`, see capture/capture-errors.ts) as a short,
 * bounded metric label: the fixed wordings map one to one, the families with a detail after
 * the colon ("protocol: …", "bitfield: …", "socket error: …") map to the family. Anything else
 * is "other", so a new wording can never explode the label set.
 */
const FIXED: Record<string, string> = {
  'connect timeout': 'connect_timeout',
  'connection refused': 'connection_refused',
  'connection reset': 'connection_reset',
  'host unreachable': 'host_unreachable',
  'network unreachable': 'network_unreachable',
  'local address not available': 'local_address_unavailable',
  'handshake timeout': 'handshake_timeout',
  'handshake: wrong infohash': 'wrong_infohash',
  'handshake: not BitTorrent': 'not_bittorrent',
  'peer closed the connection': 'peer_closed',
  'idle timeout': 'idle_timeout',
  'total timeout': 'total_timeout',
  aborted: 'aborted',
};

const FAMILIES: Array<[prefix: string, label: string]> = [
  ['protocol: ', 'protocol'],
  ['bitfield: ', 'bitfield'],
  ['socket error: ', 'socket_error'],
  ['invalid capture input: ', 'invalid_input'],
  ['internal error: ', 'internal'],
];

export function captureFailureReason(error: string): string {
  if (Object.hasOwn(FIXED, error)) return FIXED[error] as string;
  for (const [prefix, label] of FAMILIES) if (error.startsWith(prefix)) return label;
  return 'other';
}
