import { describe, expect, it } from 'vitest';
import { toPeerJson } from '../../../src/api-shape/peer-json.js';
import type { CaptureRecord } from '../../../src/model/capture.js';
import { captureMessageBody } from '../../../src/notify/amqp-publisher.js';
import { renderCsv } from '../../../src/notify/email-render.js';

const T = Date.UTC(2018, 5, 17, 5, 58, 36, 123);
const IH = 'd059053fd7122a95408346147b1edc0193432a0c';

/** No GeoIP facts at all: what every peer looks like with the default config (no city/ASN database). */
const failed: CaptureRecord = { id: 7, foundAt: T, ip: '203.0.113.9', port: 6881, infohash: IH, error: 'connect timeout' };
const captured: CaptureRecord = {
  id: 8,
  foundAt: T,
  ip: '203.0.113.10',
  port: 6882,
  infohash: IH,
  countryCode: 'DE',
  report: { date: T + 1000, totalPiecesInTorrent: 10, hasPieces: 10, hasTotal: true, clientName: 'qBittorrent 4.6.0', hostIdentifier: '' },
};

describe('the Capture API peer object (HTTP, RabbitMQ and email share it)', () => {
  it('always carries countryCode, city and isp ("" when unknown); error only on a failed attempt', () => {
    expect(toPeerJson(failed)).toStrictEqual({
      date: '2018-06-17T05:58:36.123+0000',
      ip: '203.0.113.9',
      port: 6881,
      infohash: IH,
      countryCode: '',
      city: '',
      isp: '',
      error: 'connect timeout',
    });
  });

  it('a successful capture: captureReport, no error, unknown city and isp as ""', () => {
    const p = toPeerJson(captured);
    expect(p).toMatchObject({ countryCode: 'DE', city: '', isp: '' });
    expect(p).not.toHaveProperty('error');
    expect(p.captureReport).toStrictEqual({
      date: '2018-06-17T05:58:37.123+0000',
      totalPiecesInTorrent: 10,
      hasTotal: true,
      hasPieces: 10,
      clientName: 'qBittorrent 4.6.0',
      hostIdentifier: '',
    });
  });

  it('the RabbitMQ body is that object plus "filter", with the same always-present fields', () => {
    const body = JSON.parse(captureMessageBody(failed, 'f1').toString('utf8')) as Record<string, unknown>;
    expect(body).toStrictEqual({ ...toPeerJson(failed), filter: 'f1' });
    expect(body).toMatchObject({ countryCode: '', city: '', isp: '' });
    expect(body).not.toHaveProperty('captureReport');
  });

  it('the email CSV has the columns, empty when unknown', () => {
    const [header, row] = renderCsv([toPeerJson(failed)]).trimEnd().split('\r\n');
    expect(header).toContain('countryCode,city,isp');
    expect(row).toBe(`2018-06-17T05:58:36.123+0000,203.0.113.9,6881,${IH},,,,,,,,,,connect timeout`);
  });
});
