import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiKeyConfig, ApiMethod } from '../config/config-schema.js';
import { RequestError } from './http-errors.js';

interface KeyEntry {
  name: string;
  digest: Buffer;
  state: 'active' | 'suspended';
  methods: ReadonlySet<string>;
  filters: ReadonlySet<string>;
}

/** An authenticated caller: which key, and what it may use. */
export class ApiCaller {
  constructor(private readonly entry: KeyEntry) {}

  get name(): string {
    return this.entry.name;
  }

  mayUseFilter(filter: string): boolean {
    return this.entry.filters.has('*') || this.entry.filters.has(filter);
  }

  requireFilter(filter: string): void {
    if (!this.mayUseFilter(filter)) {
      throw new RequestError('ACCESS_FORBIDDEN', `API key "${this.entry.name}" may not use Capture Filter "${filter}"`);
    }
  }
}

/**
 * The configured API keys. A presented key is hashed with SHA-256 and compared with every
 * configured digest in constant time, so neither the key nor which key matched leaks by timing.
 */
export class ApiKeyRing {
  private readonly entries: KeyEntry[];

  constructor(keys: readonly ApiKeyConfig[]) {
    this.entries = keys.map((k) => ({
      name: k.name,
      digest: k.keySha256 !== undefined ? Buffer.from(k.keySha256, 'hex') : sha256(k.key ?? ''),
      state: k.state,
      methods: new Set(k.methods),
      filters: new Set(k.filters),
    }));
  }

  get size(): number {
    return this.entries.length;
  }

  /** Authenticates `key` for `method`, or throws API_KEY_UNKNOWN / API_KEY_SUSPENDED / ACCESS_FORBIDDEN. */
  authorize(key: unknown, method: ApiMethod): ApiCaller {
    if (typeof key !== 'string' || key.length === 0) {
      throw new RequestError('API_KEY_UNKNOWN', 'API key is unknown: pass it as the "key" parameter');
    }
    const digest = sha256(key);
    let found: KeyEntry | undefined;
    for (const e of this.entries) {
      if (timingSafeEqual(e.digest, digest) && !found) found = e;
    }
    if (!found) throw new RequestError('API_KEY_UNKNOWN', 'API key is unknown');
    if (found.state === 'suspended') throw new RequestError('API_KEY_SUSPENDED', 'API key is suspended');
    if (!found.methods.has('*') && !found.methods.has(method)) {
      throw new RequestError('ACCESS_FORBIDDEN', `API key "${found.name}" does not give access to method "${method}"`);
    }
    return new ApiCaller(found);
  }
}

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
