import { describe, expect, it } from 'vitest';
import {
  MAX_CLIENT_NAME_LENGTH,
  clientName,
  clientNameFromPeerId,
  sanitizeClientVersion,
} from '../../../src/protocol/client-name.js';

/** A 20-byte peer id: the given prefix (latin1) + random-looking tail bytes, as clients send. */
function pid(prefix: string): Buffer {
  const tail = Buffer.from([0x9f, 0x21, 0xc4, 0x07, 0x6b, 0xe2, 0x55, 0x0d, 0xa8, 0x3c, 0xf1, 0x70, 0x19, 0x84, 0x2e, 0xbb, 0x46, 0xd0, 0x63, 0x8a]);
  const head = Buffer.from(prefix, 'latin1');
  return Buffer.concat([head, tail]).subarray(0, 20);
}

describe('clientNameFromPeerId: Azureus style', () => {
  it.each([
    ['-qB4650-', 'qBittorrent 4.6.5'],
    ['-qB5010-', 'qBittorrent 5.0.1'],
    ['-qB46A0-', 'qBittorrent 4.6.10'],
    ['-TR3000-', 'Transmission 3.00'],
    ['-TR2920-', 'Transmission 2.92'],
    ['-TR2940-', 'Transmission 2.94'],
    ['-TR300Z-', 'Transmission 3.00+'],
    ['-TR133X-', 'Transmission 1.33+'],
    ['-TR0072-', 'Transmission 0.72'],
    ['-TR0006-', 'Transmission 0.6'],
    ['-TR4050-', 'Transmission 4.0.5'],
    ['-TR400B-', 'Transmission 4.0.0 (Beta)'],
    ['-TR410Z-', 'Transmission 4.1.0 (Dev)'],
    ['-lt0D80-', 'libTorrent 0.13.8'],
    ['-lt0G00-', 'libTorrent 0.16.0'],
    ['-LT2080-', 'libtorrent 2.0.8'],
    ['-LT12J0-', 'libtorrent 1.2.19'],
    ['-UT3550-', 'µTorrent 3.5.5'],
    ['-UT355B-', 'µTorrent 3.5.5 (Beta)'],
    ['-UT2210-', 'µTorrent 2.2.1'],
    ['-UM1870-', 'µTorrent Mac 1.8.7'],
    ['-BT7a0S-', 'BitTorrent 7.10.0'],
    ['-BC0208-', 'BitComet 2.08'],
    ['-BC0150-', 'BitComet 1.50'],
    ['-DE13F0-', 'Deluge 1.3.15'],
    ['-DE211s-', 'Deluge 2.1.1'],
    ['-DE200D-', 'Deluge 2.0.0 (Dev)'],
    ['-BI2210-', 'BiglyBT 2.2.1.0'],
    ['-AZ5760-', 'Azureus/Vuze 5.7.6.0'],
    ['-KT4130-', 'KTorrent 4.1.3'],
    ['-KT22D1-', 'KTorrent 2.2 Dev 1'],
    ['-WW0105-', 'WebTorrent 1.5'],
    ['-WD0010-', 'WebTorrent Desktop 0.10'],
    ['-FD6000-', 'Free Download Manager 6.0.0'],
    ['-XL0012-', 'Xunlei 0.0.1.2'],
    ['-SD0100-', 'Thunder (Xunlei) 0.1.0.0'],
    ['-LW0001-', 'LimeWire'],
    ['-PI3000-', 'PicoTorrent 3.0.0'],
    ['-AG2053-', 'Ares 2.0.5'],
    ['-A~0100-', 'Ares 0.1.0'],
    ['-BN0001-', 'Baidu Netdisk'],
    ['-RT1000-', 'Retriever 1.0.0.0'],
    ['-CD0303-', 'Enhanced CTorrent 3.03'],
    ['-cD0100-', 'capture-daemon 0.1.0.0'],
    ['-FG0180-', 'FlashGet 1.80'],
  ])('%s → %s', (prefix, expected) => {
    expect(clientNameFromPeerId(pid(prefix))).toBe(expected);
  });

  it('decodes µTorrent ids whose trailing dash carries a version digit', () => {
    expect(clientNameFromPeerId(pid('-UT3510B'))).toBe('µTorrent 3.5.10 (Beta)');
  });

  it('names unknown two-letter codes readably', () => {
    expect(clientNameFromPeerId(pid('-ZZ1234-'))).toBe('Unknown (ZZ) 1.2.3.4');
    expect(clientNameFromPeerId(pid('-ZZ1$34-'))).toBe('Unknown (ZZ)');
  });

  it('does not take non-printable "codes" for a client', () => {
    expect(clientNameFromPeerId(pid('-\x01\x021234-'))).toBe('unknown');
  });
});

describe('clientNameFromPeerId: Shad0w, Mainline and aria2 styles', () => {
  it.each([
    ['A2-1-36-0-', 'aria2 1.36.0'],
    ['A2-1-37-0-', 'aria2 1.37.0'],
    ['-aria2-', 'aria2'],
    ['M7-10-0--', 'Mainline 7.10.0'],
    ['M4-3-6--', 'Mainline 4.3.6'],
    ['M4-20-8-', 'Mainline 4.20.8'],
    ['Q1-10-0-', 'Queen Bee 1.10.0'],
    ['S587----', 'Shad0w 5.8.7'],
    ['S58B-----', 'Shad0w 5.8.11'],
    ['T03I--', 'BitTornado 0.3.18'],
    ['T03A0----', 'BitTornado 0.3.10.0'],
    ['A310--', 'ABC 3.1.0'],
    ['R3600----', 'Tribler 3.6.0.0'],
  ])('%s → %s', (prefix, expected) => {
    expect(clientNameFromPeerId(pid(prefix))).toBe(expected);
  });
});

describe('clientNameFromPeerId: clients with their own schemes', () => {
  it.each([
    ['exbc\x00\x3cxxxxxx', 'BitComet 0.60'],
    ['exbc\x01\x05LORD', 'BitLord 1.05'],
    ['FUTB\x00\x3axxxx', 'BitComet (Solidox Mod) 0.58'],
    ['\x00\x03BS', 'BitSpirit 3'],
    ['XBT054d-', 'XBT Client 0.5.4 (Debug)'],
    ['XBT065--', 'XBT Client 0.6.5'],
    ['-BOWA0C-', 'Bits on Wheels 1.0.6'],
    ['OP7685f2c1495b1', 'Opera (build 7685)'],
    ['Plus12c-', 'Plus! 1.2c'],
    ['turbobt5.0.1', 'TurboBT 5.0.1'],
    ['-ML2.7.2-kgjjfkd', 'MLdonkey 2.7.2'],
    ['346-', 'TorrentTopia'],
    ['TIX0289-', 'Tixati 2.89'],
    ['DNA010203', 'BitTorrent DNA 1.2.3'],
    ['btpd/0.13', 'BT Protocol Daemon 0.13'],
    ['AZ2500BT', 'BitTyrant (Azureus Mod)'],
  ])('%j → %s', (prefix, expected) => {
    expect(clientNameFromPeerId(pid(prefix))).toBe(expected);
  });
});

describe('clientNameFromPeerId: garbage', () => {
  it.each([
    ['random bytes', Buffer.from('9f21c4076be2550da83cf1701984 2ebb46d0638a'.replace(' ', ''), 'hex')],
    ['all zeros', Buffer.alloc(20)],
    ['all 0xff', Buffer.alloc(20, 0xff)],
    ['empty', Buffer.alloc(0)],
    ['one byte', Buffer.from('-')],
    ['too long', Buffer.concat([pid('-qB4650-'), Buffer.from('extra')])],
    ['printable but unrecognised', Buffer.from('hello world, peer!!!')],
    ['truncated Azureus', Buffer.from('-qB46')],
  ])('%s → unknown', (_label, id) => {
    expect(clientNameFromPeerId(id)).toBe('unknown');
  });

  it('works on a view into a larger buffer (handshake slice)', () => {
    const handshake = Buffer.concat([Buffer.alloc(48, 0x41), pid('-qB4650-')]);
    expect(clientNameFromPeerId(handshake.subarray(48, 68))).toBe('qBittorrent 4.6.5');
  });
});

describe('clientName: extended handshake v takes precedence', () => {
  it.each([
    ['libtorrent/2.0.8.0', pid('-LT2080-'), 'libtorrent/2.0.8.0'],
    ['Transmission 3.00', pid('-TR3000-'), 'Transmission 3.00'],
    ['aria2/1.36.0', pid('A2-1-36-0-'), 'aria2/1.36.0'],
    ['qBittorrent/4.6.5', pid('-qB4650-'), 'qBittorrent/4.6.5'],
    ['µTorrent 3.5.5', undefined, 'µTorrent 3.5.5'],
    ['  Deluge 2.1.1\n', pid('-DE211s-'), 'Deluge 2.1.1'],
    ['Evil\u0000\u001b[31mClient\u007f', undefined, 'Evil[31mClient'],
    ['Bidi\u202eTrick', undefined, 'BidiTrick'],
    ['tab\tseparated\r\nname', undefined, 'tab separated name'],
  ] as const)('v=%j', (v, peerId, expected) => {
    expect(clientName(v, peerId)).toBe(expected);
  });

  it.each([
    ['undefined', undefined],
    ['empty', ''],
    ['whitespace only', '   \t '],
    ['control chars only', '\u0000\u0001\u001f'],
    ['replacement chars only', '\ufffd\ufffd'],
    ['punctuation only', '---'],
  ])('falls back to the peer id when v is %s', (_label, v) => {
    expect(clientName(v, pid('-qB4650-'))).toBe('qBittorrent 4.6.5');
  });

  it("returns 'unknown' when neither is usable", () => {
    expect(clientName(undefined, undefined)).toBe('unknown');
    expect(clientName('', Buffer.alloc(20))).toBe('unknown');
  });

  it('caps v at 64 code points without splitting characters', () => {
    const long = 'µ'.repeat(40) + '😀'.repeat(40);
    const out = sanitizeClientVersion(long) as string;
    expect(Array.from(out)).toHaveLength(MAX_CLIENT_NAME_LENGTH);
    expect(out.endsWith('😀')).toBe(true);
    expect(clientName('x'.repeat(200), undefined)).toBe('x'.repeat(64));
  });
});
