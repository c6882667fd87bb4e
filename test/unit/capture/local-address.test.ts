import { describe, expect, it } from 'vitest';
import { localAddressFor } from '../../../src/capture/capture-module.js';

describe('capture source address per peer family', () => {
  it('binds IPv4 peers to an IPv4 localAddress and IPv6 peers to localAddress6, never across families', () => {
    const cap = { localAddress: '192.0.2.10', localAddress6: '2001:db8::10' };
    expect(localAddressFor('198.51.100.7', cap)).toEqual({ localAddress: '192.0.2.10' });
    expect(localAddressFor('2001:db8::7', cap)).toEqual({ localAddress: '2001:db8::10' });
    // Only an IPv4 source configured: an IPv6 peer is dialled from the address the OS picks.
    expect(localAddressFor('2001:db8::7', { localAddress: '192.0.2.10' })).toEqual({});
    // An IPv6 localAddress serves IPv6 peers; IPv4 peers then get none.
    expect(localAddressFor('2001:db8::7', { localAddress: '2001:db8::11' })).toEqual({ localAddress: '2001:db8::11' });
    expect(localAddressFor('198.51.100.7', { localAddress: '2001:db8::11' })).toEqual({});
    expect(localAddressFor('198.51.100.7', {})).toEqual({});
  });
});
