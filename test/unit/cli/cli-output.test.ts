import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { configFile } from '../../../src/cli/cli-context.js';
import { runCli } from '../../../src/cli/program.js';

const EXAMPLE = path.resolve('config/capture-daemon.example.yaml');

/** Runs the CLI in this process with `env` set, capturing stdout, stderr and the exit code. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    process.exitCode = 0;
    await runCli(['node', 'capture-daemon', ...args]);
    return { stdout, stderr, code: Number(process.exitCode ?? 0) };
  } finally {
    out.mockRestore();
    err.mockRestore();
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    process.exitCode = 0;
  }
}

afterEach(() => {
  process.exitCode = 0;
});

describe('CLI output', () => {
  it('CAPTURE_DAEMON_CONFIG (documented) works for config check, alone and with --config', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cd-cli-'));
    const other = path.join(dir, 'other.yaml');
    writeFileSync(other, 'http:\n  pageSize: 5\n');
    const viaEnv = await cli(['config', 'check', '--json'], { CAPTURE_DAEMON_CONFIG: EXAMPLE });
    expect(viaEnv.code).toBe(0);
    expect(JSON.parse(viaEnv.stdout)).toEqual({ ok: true, file: EXAMPLE, problems: [] });
    const both = await cli(['config', 'check', '--json', '--config', other], { CAPTURE_DAEMON_CONFIG: EXAMPLE });
    expect(both.code).toBe(0);
    expect(JSON.parse(both.stdout)).toMatchObject({ ok: true, file: other });
    expect(configFile({ config: other }, { CAPTURE_DAEMON_CONFIG: EXAMPLE })).toBe(other);
    expect(configFile({}, { CAPTURE_DAEMON_CONFIG: EXAMPLE })).toBe(EXAMPLE);
  });

  it('config show: an API key from CAPTURE_DAEMON_APIKEY_* is labelled env, and geoip.countryDb shows the bundled database in use', async () => {
    const r = await cli(['config', 'show', '--json', '--config', EXAMPLE], { CAPTURE_DAEMON_APIKEY_EXAMPLE: 'a-key-from-the-environment' });
    expect(r.code).toBe(0);
    const values = (JSON.parse(r.stdout) as { values: Array<{ path: string; value: unknown; source: string }> }).values;
    const at = (p: string) => values.find((v) => v.path === p);
    expect(at('apiKeys.0.key')).toEqual({ path: 'apiKeys.0.key', value: '***', source: 'env CAPTURE_DAEMON_APIKEY_EXAMPLE' });
    expect(at('apiKeys.0.name')?.source).toBe('file');
    expect(at('geoip.countryDb')).toEqual({
      path: 'geoip.countryDb',
      value: expect.stringMatching(/geo-whois-asn-country\.mmdb$/),
      source: 'default (bundled)',
    });
    const text = await cli(['config', 'show', '--config', EXAMPLE]);
    expect(text.stdout).toMatch(/^geoip\.countryDb +".*\.mmdb" +\(default \(bundled\)\)$/m);
  });

  it.each([['status'], ['reload']])('%s --json with no daemon: JSON on stdout (NOT_RUNNING), exit 3', async (command) => {
    const socket = path.join(mkdtempSync(path.join(tmpdir(), 'cd-cli-')), 'none.sock');
    const r = await cli([command, '--json', '--socket', socket]);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toEqual({ ok: false, error: 'NOT_RUNNING', message: expect.stringContaining(socket) });
    expect(r.stderr).toContain(socket); // the human line stays on stderr
  });

  it('any --json failure prints JSON: an invalid config gives its problems', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cd-cli-'));
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'http:\n  pageSize: "ten"\n');
    const r = await cli(['filters', '--json', '--config', bad]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({
      ok: false,
      error: 'CONFIG_INVALID',
      message: expect.any(String),
      problems: [{ path: 'http.pageSize', message: 'must be a number' }],
    });
  });
});
