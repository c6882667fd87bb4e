import { request } from 'node:http';
import { AppError } from '../util/app-error.js';

/** Calls the running daemon's admin endpoint over its Unix socket. */
export function adminRequest<T>(socketPath: string, method: 'GET' | 'POST', urlPath: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path: urlPath, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          const body = JSON.parse(text) as T;
          if ((res.statusCode ?? 500) >= 400) {
            reject(new AppError('ADMIN_ERROR', (body as { message?: string }).message ?? text));
          } else {
            resolve(body);
          }
        } catch {
          reject(new AppError('ADMIN_ERROR', `unexpected answer from the daemon: ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new AppError('ADMIN_TIMEOUT', `the daemon did not answer within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(new AppError('NOT_RUNNING', `nothing listens on ${socketPath}`));
      } else if (err.code === 'EACCES') {
        reject(new AppError('NOT_ALLOWED', `permission denied on ${socketPath}: run as the daemon's user (e.g. sudo -u capture-daemon)`));
      } else {
        reject(err);
      }
    });
    req.end();
  });
}
