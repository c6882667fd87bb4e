import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/util/logger.js';

function sink(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('createLogger', () => {
  it('redacts secrets wherever a caller puts them', () => {
    const out = sink();
    const log = createLogger('info', { pretty: false, destination: out.stream });
    log.info(
      { password: 'p-secret', apiKey: { name: 'ops', key: 'k-secret-0123456789' }, smtp: { auth: { password: 'smtp-secret' } }, metrics: { bearerToken: 't-secret' }, req: { headers: { authorization: 'Bearer h-secret', cookie: 'c-secret' } } },
      'configured',
    );
    const line = JSON.parse(out.text()) as Record<string, unknown>;
    expect(out.text()).not.toMatch(/secret/);
    expect(line).toMatchObject({ msg: 'configured', password: '[redacted]', apiKey: { name: 'ops', key: '[redacted]' }, metrics: { bearerToken: '[redacted]' } });
  });

  it('writes readable lines instead of JSON when asked (the default on a terminal), secrets still redacted', () => {
    const out = sink();
    const log = createLogger('info', { pretty: true, destination: out.stream });
    log.child({ component: 'dht' }).warn({ nodes: 0, password: 'p-secret' }, 'no DHT nodes');
    const text = out.text();
    expect(() => JSON.parse(text) as unknown).toThrow();
    expect(text).toMatch(/WARN.*no DHT nodes/);
    expect(text).toMatch(/component: "dht"/);
    expect(text).not.toMatch(/p-secret/);
  });

  it('prints JSON levels as names, with an ISO time and the pid', () => {
    const lines: Array<Record<string, unknown>> = [];
    const out = sink();
    const logger = createLogger('debug', { pretty: false, destination: out.stream });
    logger.info('one');
    logger.child({ component: 'x' }).warn({ peer: '1.2.3.4:5' }, 'two');
    logger.debug('three');
    logger.trace('not at debug');
    for (const l of out.text().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['info', 'one'],
      ['warn', 'two'],
      ['debug', 'three'],
    ]);
    expect(lines[0]?.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(lines[0]?.pid).toBe(process.pid);
    expect(lines[1]).toMatchObject({ component: 'x', peer: '1.2.3.4:5' });
  });
});
