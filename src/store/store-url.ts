/**
 * Where the store lives, from `store.url`: a file path or `sqlite:PATH` (SQLite, the default), or
 * `postgres://…` / `postgresql://…` (PostgreSQL, node-postgres connection string).
 */
export type StoreLocation = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/** Parses `store.url`; a string (the problem, in words) when it is not usable. SQLite paths stay as given. */
export function parseStoreUrl(url: string): StoreLocation | string {
  const trimmed = url.trim();
  if (/^postgres(ql)?:\/\//i.test(trimmed)) {
    let parsed: URL;
    try {
      parsed = new URL(trimmed);
    } catch {
      return 'is not a valid postgres:// URL';
    }
    if (parsed.hostname === '' && !parsed.searchParams.has('host')) return 'needs a host (postgres://user@host:5432/database)';
    if (parsed.pathname.length <= 1) return 'needs a database name (postgres://user@host:5432/database)';
    return { kind: 'postgres', url: trimmed };
  }
  if (/^sqlite:/i.test(trimmed)) {
    const file = trimmed.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (file.length === 0) return 'needs a file after "sqlite:" (sqlite:capture.db or sqlite:/var/lib/capture-daemon/capture.db)';
    return { kind: 'sqlite', path: file };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(trimmed);
  if (scheme) return `has an unknown scheme "${scheme[1] as string}:" (use a file path, sqlite:PATH or postgres://…)`;
  if (trimmed.length === 0) return 'must not be empty';
  return { kind: 'sqlite', path: trimmed };
}
