import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  /** The session was upgraded to TLS (STARTTLS) before the mail. */
  secure: boolean;
}

/** A throwaway self-signed certificate for 127.0.0.1 and localhost (openssl, P-256). */
export function selfSignedCert(): { key: Buffer; cert: Buffer; certFile: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smtp-cert-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  const r = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ]);
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr?.toString() ?? r.error?.message}`);
  return { key: readFileSync(keyFile), cert: readFileSync(certFile), certFile, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export type SmtpMode = 'accept' | 'refuse-connect' | 'refuse-rcpt' | 'refuse-data';

export interface TestSmtp {
  port: number;
  mode: SmtpMode;
  /** Recipients refused with 550 even in accept mode. */
  refuseRecipients: Set<string>;
  mails: ReceivedMail[];
  /** Messages whose DATA was received, accepted or not (for "the server saw it" checks). */
  dataSeen: number;
  close(): Promise<void>;
}

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

/** A real SMTP server (smtp-server) on 127.0.0.1; its behaviour can be switched while it runs. */
export async function startSmtp(port = 0, mode: SmtpMode = 'accept', tls?: { key: Buffer; cert: Buffer }): Promise<TestSmtp> {
  const state: TestSmtp = {
    port: 0,
    mode,
    refuseRecipients: new Set(),
    mails: [],
    dataSeen: 0,
    close: async () => undefined,
  };
  const server = new SMTPServer({
    authOptional: true,
    // With a certificate: STARTTLS offered (the connection starts in plain text); without: not offered.
    ...(tls !== undefined ? { key: tls.key, cert: tls.cert } : { disabledCommands: ['STARTTLS'] }),
    logger: false,
    onConnect(_session: SMTPServerSession, cb: (err?: Error | null) => void) {
      cb(state.mode === 'refuse-connect' ? smtpError(421, 'Service not available, try again later') : null);
    },
    onRcptTo(address: SMTPServerAddress, _session: SMTPServerSession, cb: (err?: Error | null) => void) {
      if (state.mode === 'refuse-rcpt') return cb(smtpError(450, 'Mailbox busy, try again later'));
      if (state.refuseRecipients.has(address.address)) return cb(smtpError(550, `No such user ${address.address}`));
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        state.dataSeen++;
        if (state.mode === 'refuse-data') return cb(smtpError(451, 'Local error in processing, try again later'));
        state.mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          secure: session.secure === true,
        });
        cb();
      });
    },
  });
  server.on('error', () => undefined);
  let listening: net.Server | undefined;
  await new Promise<void>((resolve, reject) => {
    listening = server.listen(port, '127.0.0.1', () => resolve());
    listening.once('error', reject);
  });
  state.port = (listening!.address() as net.AddressInfo).port;
  state.close = () => new Promise<void>((r) => server.close(() => r()));
  return state;
}

/** A "server" that greets and answers like SMTP, then drops the connection when the client sends DATA. */
export async function startDroppingSmtp(port = 0): Promise<{ port: number; drops: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const state = { port: 0, drops: 0, close: async () => undefined as void };
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    sock.write('220 drop.test ESMTP\r\n');
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i).toUpperCase();
        buf = buf.slice(i + 2);
        if (line.startsWith('EHLO')) sock.write('250-drop.test\r\n250 8BITMIME\r\n');
        else if (line.startsWith('DATA')) {
          state.drops++;
          sock.destroy();
          return;
        } else if (line.startsWith('QUIT')) sock.end('221 bye\r\n');
        else sock.write('250 OK\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  state.port = (server.address() as net.AddressInfo).port;
  state.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return state;
}

// ------------------------------------------------------------------ a small MIME reader for assertions
export interface MimePart {
  headers: Map<string, string>;
  contentType: string;
  /** Decoded body (base64 / quoted-printable undone) for leaf parts. */
  body: string;
  parts: MimePart[];
}

function parseHeaders(block: string): Map<string, string> {
  const out = new Map<string, string>();
  const unfolded = block.replace(/\r\n[ \t]+/g, ' ');
  for (const line of unfolded.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) out.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return out;
}

function decodeQp(s: string): string {
  const bytes: number[] = [];
  const src = s.replace(/=\r\n/g, '');
  for (let i = 0; i < src.length; i++) {
    if (src[i] === '=' && /^[0-9A-F]{2}$/i.test(src.slice(i + 1, i + 3))) {
      bytes.push(parseInt(src.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(src[i] as string, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

export function parseMime(raw: string): MimePart {
  const split = raw.indexOf('\r\n\r\n');
  const headers = parseHeaders(raw.slice(0, split));
  const body = raw.slice(split + 4);
  const contentType = headers.get('content-type') ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (contentType.toLowerCase().startsWith('multipart/') && boundary) {
    const pieces = body.split(`--${boundary}`).slice(1);
    const parts = pieces.filter((p) => !p.startsWith('--')).map((p) => parseMime(p.replace(/^\r\n/, '')));
    return { headers, contentType, body: '', parts };
  }
  const enc = (headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  let decoded = body;
  if (enc === 'base64') decoded = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  else if (enc === 'quoted-printable') decoded = decodeQp(body);
  return { headers, contentType, body: decoded, parts: [] };
}

/** Every leaf part, depth first. */
export function leaves(p: MimePart): MimePart[] {
  return p.parts.length === 0 ? [p] : p.parts.flatMap(leaves);
}
