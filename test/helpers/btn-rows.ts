import { torrentIdentifier } from '../../src/btn/torrent-identifier.js';

/** Rows shaped as PeerBanHelper's Gson writes them (snake_case, nulls kept, epoch ms, Java IPv6). */
export const IH = 'a5b24a285c3533d80ce62181813640ac4a0e6ed7';
export const TID = torrentIdentifier(IH);

export function swarm(i: number, now: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    torrent_identifier: TID,
    torrent_is_private: null,
    torrent_size: 702869834,
    downloader: 'qBittorrent-main',
    downloader_progress: 0.5,
    peer_ip: `1.2.${(i >> 8) & 255}.${i & 255}`,
    peer_port: 6881,
    peer_id: '-qB4650-abcdefghijkl',
    peer_client_name: 'qBittorrent/4.6.5',
    peer_progress: 1.0,
    to_peer_traffic: 1000 + i,
    to_peer_traffic_offset: 0,
    from_peer_traffic: 2000,
    from_peer_traffic_offset: 0,
    first_time_seen: now - 60_000,
    last_time_seen: now - 1000,
    peer_last_flags: 'D ? I E',
    upload_speed: 10,
    download_speed: 20,
    upload_speed_max: 100,
    download_speed_max: 200,
    ...over,
  };
}

export function ban(i: number, now: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ban_at: now - 5000,
    peer_ip: `5.6.7.${i & 255}`,
    peer_port: 51413,
    peer_id: '-XL0012-\u0000\u0000abc',
    peer_client_name: 'Xunlei 0.0.1.2',
    peer_progress: 0.0,
    peer_flag: 'u I H X E P',
    torrent_identifier: TID,
    torrent_is_private: false,
    torrent_size: 702869834,
    from_peer_traffic: 0,
    to_peer_traffic: 1048576,
    downloader_progress: 0.25,
    module: 'com.ghostchu.peerbanhelper.module.impl.rule.ProgressCheatBlocker',
    rule: 'progress mismatch',
    description: 'reported 0% after 1 MiB uploaded',
    structured_data: '{"type":"progress"}',
    ...over,
  };
}
