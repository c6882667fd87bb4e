import ipaddr from 'ipaddr.js';
import type { BanRow, HistoryRow, SwarmRow } from './ports.js';

/** Why a submitted row was dropped (counted per reason; the batch is still accepted, spec §1.4). */
export type DropReason =
  | 'not_an_object'
  | 'bad_ip'
  | 'ip_not_public'
  | 'bad_port'
  | 'bad_torrent_identifier'
  | 'bad_number'
  | 'bad_time'
  | 'time_out_of_window'
  | 'excluded_module'
  | 'no_traffic';

export class Dropped {
  constructor(readonly reason: DropReason) {}
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** §3.1/§3.2: bans and swarm rows more than 1 h ahead or 7 days old are dropped (Sparkle3's rule). */
export const WINDOW = { futureMs: HOUR, pastMs: 7 * DAY };
/** Modules Sparkle3 drops: they are about the user's own connection limits, not about the peer. */
const EXCLUDED_MODULES = ['IdleConnectionDosProtection', 'AntiVampire'];

type Obj = Record<string, unknown>;

/** Text as stored: `\u0000` removed (Gson passes raw peer ids through), at most `max` characters. */
export function text(v: unknown, max = 1024): string | null {
  if (v === null || v === undefined) return null;
  const s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  // eslint-disable-next-line no-control-regex
  const clean = s.includes('\u0000') ? s.replace(/\u0000/g, '') : s;
  return clean.length > max ? clean.slice(0, max) : clean;
}

/**
 * An address as Java's `getHostAddress()` prints it (IPv6 uncompressed, maybe `%scope`), in its
 * canonical form: the scope dropped, IPv6 compressed (RFC 5952), IPv4-mapped IPv6 as IPv4.
 */
const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Whether an IPv4 address (as 4 octets) is public unicast, the same answer as ipaddr.js's
 * `range() === 'unicast'`, without parsing: the hot path of a 1,000-row batch.
 */
function publicV4(a: number, b: number, c: number): boolean {
  if (a === 0 || a === 10 || a === 127 || a >= 224) return false;
  if (a === 100 && b >= 64 && b <= 127) return false; // CGNAT
  if (a === 169 && b === 254) return false;
  if (a === 172 && b >= 16 && b <= 31) return false;
  if (a === 192 && b === 168) return false;
  if (a === 192 && b === 0 && (c === 0 || c === 2)) return false; // IETF protocol, TEST-NET-1
  if (a === 192 && b === 88 && c === 99) return false; // 6to4 relay
  if (a === 192 && ((b === 175 && c === 48) || (b === 31 && c === 196) || (b === 52 && c === 193))) return false; // AS112, AMT
  if (a === 198 && (b === 18 || b === 19)) return false; // benchmarking
  if (a === 198 && b === 51 && c === 100) return false; // TEST-NET-2
  if (a === 203 && b === 0 && c === 113) return false; // TEST-NET-3
  return true;
}

export function normalizeIp(v: unknown): string | Dropped {
  if (typeof v !== 'string') return new Dropped('bad_ip');
  const quad = DOTTED_QUAD.exec(v);
  if (quad) {
    const a = Number(quad[1]);
    const b = Number(quad[2]);
    const c = Number(quad[3]);
    const d = Number(quad[4]);
    if (a > 255 || b > 255 || c > 255 || d > 255) return new Dropped('bad_ip');
    if (!publicV4(a, b, c)) return new Dropped('ip_not_public');
    return `${a}.${b}.${c}.${d}`;
  }
  let s = v.trim();
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  // Only dotted-quad IPv4 (ipaddr.js would also read "8.8.8" or hex parts as IPv4) or IPv6.
  if (!ipaddr.IPv4.isValidFourPartDecimal(s) && !(s.includes(':') && ipaddr.IPv6.isValid(s))) return new Dropped('bad_ip');
  let addr = ipaddr.parse(s);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
  if (addr.range() !== 'unicast') return new Dropped('ip_not_public');
  return addr.toString();
}

function int(v: unknown, fallback?: number): number | Dropped {
  if ((v === null || v === undefined) && fallback !== undefined) return fallback;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) return new Dropped('bad_number');
  return Math.trunc(n);
}

function num(v: unknown, fallback = 0): number | Dropped {
  if (v === null || v === undefined) return fallback;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : new Dropped('bad_number');
}

function port(v: unknown): number | Dropped {
  const p = int(v);
  if (p instanceof Dropped) return new Dropped('bad_port');
  return p >= 0 && p <= 65535 ? p : new Dropped('bad_port');
}

function identifier(v: unknown): string | Dropped {
  return typeof v === 'string' && /^[0-9a-fA-F]{64}$/.test(v.trim()) ? v.trim().toLowerCase() : new Dropped('bad_torrent_identifier');
}

function time(v: unknown, now: number, windowed: boolean): number | Dropped {
  const t = int(v);
  if (t instanceof Dropped || t <= 0) return new Dropped('bad_time');
  if (windowed && (t > now + WINDOW.futureMs || t < now - WINDOW.pastMs)) return new Dropped('time_out_of_window');
  return t;
}

/** Runs the field readers; the first Dropped wins. */
function collect<T extends object>(fields: { [K in keyof T]: T[K] | Dropped }): T | Dropped {
  for (const v of Object.values(fields)) if (v instanceof Dropped) return v;
  return fields as T;
}

function obj(v: unknown): Obj | Dropped {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : new Dropped('not_an_object');
}

/** The 8-character peer id prefix clients name themselves with (e.g. "-qB4650-"). */
export function peerIdPrefix(peerId: string | null): string {
  return (peerId ?? '').slice(0, 8);
}

/** A modern `submit_bans` entry (§3.1). */
export function banRow(v: unknown, now: number): BanRow | Dropped {
  const o = obj(v);
  if (o instanceof Dropped) return o;
  const module = text(o.module, 512) ?? '';
  if (EXCLUDED_MODULES.some((m) => module.endsWith(m))) return new Dropped('excluded_module');
  let structured = text(o.structured_data, 64 * 1024) ?? '{}';
  try {
    const parsed: unknown = JSON.parse(structured);
    structured = parsed !== null && typeof parsed === 'object' ? JSON.stringify(parsed) : '{}';
  } catch {
    structured = '{}';
  }
  return collect<BanRow>({
    banAt: time(o.ban_at, now, true),
    peerIp: normalizeIp(o.peer_ip),
    peerPort: port(o.peer_port),
    peerId: text(o.peer_id, 20),
    peerClientName: text(o.peer_client_name, 256),
    peerProgress: num(o.peer_progress),
    peerFlag: text(o.peer_flag, 64),
    torrentIdentifier: identifier(o.torrent_identifier),
    torrentSize: int(o.torrent_size, 0),
    torrentPrivate: o.torrent_is_private === true,
    fromPeerTraffic: int(o.from_peer_traffic, 0),
    toPeerTraffic: int(o.to_peer_traffic, 0),
    downloaderProgress: num(o.downloader_progress),
    module,
    rule: text(o.rule, 2048) ?? '',
    description: text(o.description, 4096) ?? '',
    structuredData: structured,
    btnBan: false,
    banUniqueId: null,
  });
}

/** A legacy ban (§4.2): `{btn_ban, ban_unique_id, module, rule, peer: LegacyPeer, structured_data: object}`. */
export function legacyBanRow(v: unknown, populateTime: number, now: number): BanRow | Dropped {
  const o = obj(v);
  if (o instanceof Dropped) return o;
  const peer = obj(o.peer);
  if (peer instanceof Dropped) return peer;
  const modern = banRow(
    {
      ban_at: populateTime,
      peer_ip: peer.ip_address,
      peer_port: peer.peer_port,
      peer_id: peer.peer_id,
      peer_client_name: peer.client_name,
      peer_progress: peer.peer_progress,
      peer_flag: peer.peer_flag,
      torrent_identifier: peer.torrent_identifier,
      torrent_is_private: peer.torrent_is_private,
      torrent_size: peer.torrent_size,
      from_peer_traffic: peer.downloaded,
      to_peer_traffic: peer.uploaded,
      downloader_progress: peer.downloader_progress,
      module: o.module,
      rule: o.rule,
      description: '',
      structured_data: o.structured_data === null || o.structured_data === undefined ? '{}' : JSON.stringify(o.structured_data),
    },
    now,
  );
  if (modern instanceof Dropped) return modern;
  return { ...modern, btnBan: o.btn_ban === true, banUniqueId: text(o.ban_unique_id, 128) };
}

/** A `submit_swarm` entry (§3.2). */
export function swarmRow(v: unknown, now: number): SwarmRow | Dropped {
  const o = obj(v);
  if (o instanceof Dropped) return o;
  const row = collect<SwarmRow>({
    downloader: text(o.downloader, 256) ?? '',
    torrentIdentifier: identifier(o.torrent_identifier),
    torrentSize: int(o.torrent_size, 0),
    torrentPrivate: o.torrent_is_private === true,
    peerIp: normalizeIp(o.peer_ip),
    peerPort: port(o.peer_port),
    peerId: text(o.peer_id, 20),
    peerClientName: text(o.peer_client_name, 256),
    peerProgress: num(o.peer_progress),
    downloaderProgress: num(o.downloader_progress),
    fromPeerTraffic: int(o.from_peer_traffic, 0),
    fromPeerTrafficOffset: int(o.from_peer_traffic_offset, 0),
    fromPeerSpeed: int(o.download_speed, 0),
    fromPeerSpeedMax: int(o.download_speed_max, 0),
    toPeerTraffic: int(o.to_peer_traffic, 0),
    toPeerTrafficOffset: int(o.to_peer_traffic_offset, 0),
    toPeerSpeed: int(o.upload_speed, 0),
    toPeerSpeedMax: int(o.upload_speed_max, 0),
    flags: text(o.peer_last_flags, 64) ?? '',
    firstSeen: time(o.first_time_seen, now, false),
    lastSeen: time(o.last_time_seen, now, true),
  });
  if (row instanceof Dropped) return row;
  if (row.fromPeerTraffic <= 0 && row.toPeerTraffic <= 0 && row.fromPeerTrafficOffset <= 0 && row.toPeerTrafficOffset <= 0) {
    return new Dropped('no_traffic');
  }
  return row;
}

/** A legacy `submit_peers` entry (§4.1): a snapshot at `populateTime`, stored as a swarm row of downloader ''. */
export function legacyPeerRow(v: unknown, populateTime: number): SwarmRow | Dropped {
  const o = obj(v);
  if (o instanceof Dropped) return o;
  return collect<SwarmRow>({
    downloader: '',
    torrentIdentifier: identifier(o.torrent_identifier),
    torrentSize: int(o.torrent_size, 0),
    torrentPrivate: o.torrent_is_private === true,
    peerIp: normalizeIp(o.ip_address),
    peerPort: port(o.peer_port),
    peerId: text(o.peer_id, 20),
    peerClientName: text(o.client_name, 256),
    peerProgress: num(o.peer_progress),
    downloaderProgress: num(o.downloader_progress),
    fromPeerTraffic: int(o.downloaded, 0),
    fromPeerTrafficOffset: 0,
    fromPeerSpeed: int(o.rt_download_speed, 0),
    fromPeerSpeedMax: int(o.rt_download_speed, 0),
    toPeerTraffic: int(o.uploaded, 0),
    toPeerTrafficOffset: 0,
    toPeerSpeed: int(o.rt_upload_speed, 0),
    toPeerSpeedMax: int(o.rt_upload_speed, 0),
    flags: text(o.peer_flag, 64) ?? '',
    firstSeen: populateTime,
    lastSeen: populateTime,
  });
}

/** A `submit_histories` entry (§3.3; `port` is always 0 and not kept). */
export function historyRow(v: unknown, now: number): HistoryRow | Dropped {
  const o = obj(v);
  if (o instanceof Dropped) return o;
  return collect<HistoryRow>({
    torrentIdentifier: identifier(o.torrent_identifier),
    torrentSize: int(o.torrent_size, 0),
    peerIp: normalizeIp(o.ip_address),
    peerId: text(o.peer_id, 20) ?? '',
    peerClientName: text(o.client_name, 256) ?? '',
    downloaded: int(o.downloaded, 0),
    downloadedOffset: int(o.downloaded_offset, 0),
    uploaded: int(o.uploaded, 0),
    uploadedOffset: int(o.uploaded_offset, 0),
    firstSeen: time(o.first_time_seen, now, false),
    lastSeen: time(o.last_time_seen, now, false),
    peerFlag: text(o.peer_flag, 64),
  });
}
