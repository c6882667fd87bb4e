import { describe, expect, it } from 'vitest';
import { normalizeIp, text } from '../../../src/btn/normalize.js';
import { pingConfig, protocolVersion } from '../../../src/btn/ping-config.js';
import { leadingZeroBits } from '../../../src/btn/pow-captcha.js';
import { torrentIdentifier } from '../../../src/btn/torrent-identifier.js';
import { configSchema } from '../../../src/config/config-schema.js';

describe('torrent_identifier (spec §6 vectors)', () => {
  it.each([
    ['a5b24a285c3533d80ce62181813640ac4a0e6ed7', '52fa13494a4571a951b46b1a04be19ab9d8089c3d3761956c99f5435e6f2c8ad'],
    ['A5B24A285C3533D80CE62181813640AC4A0E6ED7', '52fa13494a4571a951b46b1a04be19ab9d8089c3d3761956c99f5435e6f2c8ad'],
    ['0123456789abcdef0123456789abcdef01234567', '456e89c3e86fca4d5f87684ab7526e77b51dfe50613d43b83bf53bd0780f5a4a'],
    ['dd8255ecdc7ca55fb0bbf81323d87062db1f6d1c', '85e0b767b02d890cf5f4fde96fd5ce043d93c902e97a5343ec25cdab5076f5c1'],
  ])('%s → %s', (ih, id) => {
    expect(torrentIdentifier(ih)).toBe(id);
  });

  it('is not the big-endian-salt identifier the SPEC wording suggests', () => {
    expect(torrentIdentifier('a5b24a285c3533d80ce62181813640ac4a0e6ed7').startsWith('e55bfb26')).toBe(false);
  });
});

describe('normalising what Java and Gson send', () => {
  it.each([
    ['2001:db8:0:0:0:0:0:1', 'ip_not_public'],
    ['2606:4700:0:0:0:0:0:1111', '2606:4700::1111'],
    ['2606:4700:0:0:0:0:0:1111%eth0', '2606:4700::1111'],
    ['2606:4700:0:0:0:0:0:1111%12', '2606:4700::1111'],
    ['0:0:0:0:0:ffff:808:808', '8.8.8.8'],
    [' 8.8.8.8 ', '8.8.8.8'],
    ['10.0.0.1', 'ip_not_public'],
    ['fe80:0:0:0:0:0:0:1%lo', 'ip_not_public'],
    ['8.8.8', 'bad_ip'],
    [null, 'bad_ip'],
  ])('%s → %s', (input, expected) => {
    const r = normalizeIp(input);
    expect(typeof r === 'string' ? r : r.reason).toBe(expected);
  });

  it('strips \\u0000 and caps lengths', () => {
    expect(text('-XL0012-\u0000\u0000\u0001abc', 20)).toBe('-XL0012-\u0001abc');
    expect(text('x'.repeat(30), 20)).toHaveLength(20);
    expect(text(null)).toBeNull();
  });
});

describe('config document', () => {
  const btn = configSchema.parse({ btn: { enabled: true, publicUrl: 'https://btn.example.org/' } }).btn;
  it('reads the protocol version from the User-Agent', () => {
    expect(protocolVersion('PeerBanHelper/v9.5.0 (unknown; Linux,6.8,unknown) BTN-Protocol/2.0.1 BTN-Protocol-Version/20')).toBe(20);
    expect(protocolVersion('curl/8')).toBeUndefined();
  });
  it('builds endpoints from publicUrl without a double slash and never sends proof_of_work_captcha: null', () => {
    const c = pingConfig(btn, 20) as { ability: Record<string, { endpoint?: string }> };
    expect(c.ability.submit_swarm?.endpoint).toBe('https://btn.example.org/ping/syncSwarm');
    expect(JSON.stringify(c)).not.toContain('null');
  });
  it('gives protocol 2–6 clients min = max = their version (their check is inverted, spec §8)', () => {
    expect(pingConfig(btn, 5)).toMatchObject({ min_protocol_version: 5, max_protocol_version: 5 });
  });
});

describe('proof of work', () => {
  it('counts leading zero bits most significant first', () => {
    expect(leadingZeroBits(Buffer.from([0x00, 0x10]))).toBe(11);
    expect(leadingZeroBits(Buffer.from([0x80]))).toBe(0);
    expect(leadingZeroBits(Buffer.from([0x01]))).toBe(7);
  });
});
