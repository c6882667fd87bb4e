import { describe, expect, it } from 'vitest';
import { formatDht6 } from '../../../src/cli/status-command.js';

describe('status: the IPv6 DHT line (BEP 32)', () => {
  it('shows the IPv6 table beside the peers found per family, or why the node is off', () => {
    const found = { ipv4: 12, ipv6: 3 };
    expect(formatDht6({ enabled: true, running: true, error: null, nodes: 17, address: { address: 'fd00:cd::200', port: 6881 } }, found)).toBe(
      'dht ipv6   17 nodes on [fd00:cd::200]:6881 · peers found ipv4 12 / ipv6 3',
    );
    expect(formatDht6({ enabled: true, running: false, error: 'EADDRNOTAVAIL: no usable IPv6 on this host for ::', nodes: 0, address: null })).toBe(
      'dht ipv6   not running (EADDRNOTAVAIL: no usable IPv6 on this host for ::)',
    );
    expect(formatDht6({ enabled: false, running: false, error: null, nodes: 0, address: null }, found)).toBe('dht ipv6   off · peers found ipv4 12 / ipv6 3');
  });
});
