import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * A real AF_UNIX SOCK_DGRAM listener (python3): binds the address (`@name` = abstract namespace),
 * turns on SO_PASSCRED, and prints one JSON line per datagram with the sender's pid.
 */
const LISTENER_PY = `
import json, socket, struct, sys
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind('\\0' + addr[1:] if addr.startswith('@') else addr)
print(json.dumps({'listening': addr}), flush=True)
while True:
    data, anc, _flags, _addr = s.recvmsg(65536, socket.CMSG_SPACE(12))
    pid = None
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack('iII', payload[:12])[0]
    print(json.dumps({'pid': pid, 'data': data.decode()}), flush=True)
`;

export interface Datagram {
  pid: number | null;
  data: string;
}

export interface Listener {
  address: string;
  received: Datagram[];
  waitFor(predicate: (all: Datagram[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): void;
}

/** Starts the listener; `cleanups` receives its close function. */
export async function startNotifyListener(address: string, cleanups: Array<() => void>): Promise<Listener> {
  const child: ChildProcessWithoutNullStreams = spawn('python3', ['-c', LISTENER_PY, address], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const received: Datagram[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const listening = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`listener exited (${code}): ${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as Datagram | { listening: string };
      if ('listening' in msg) resolve();
      else received.push(msg);
    });
  });
  const close = (): void => {
    child.kill('SIGKILL');
  };
  cleanups.push(close);
  await listening;
  return {
    address,
    received,
    close,
    async waitFor(predicate, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(received)) {
        if (Date.now() > deadline) {
          throw new Error(`timed out; received ${JSON.stringify(received)}; stderr ${stderr}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

