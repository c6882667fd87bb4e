import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SpamConfig } from '../config/config-schema.js';
import { BADGE_SIZES, renderBadge, type BadgeSize } from './badge.js';
import type { ListQuery, SpamAuth, SpamEntry } from './ports.js';
import { SpamError } from './spam-errors.js';
import { encodeChunks, textChunks, textLine, textList, xmlChunks, xmlList } from './spam-format.js';
import { SPAM_SCHEMAS } from './spam-schemas.js';
import { requireHash, type SpamService } from './spam-service.js';

type Params = Record<string, unknown>;

export interface SpamRouteDeps {
  service: SpamService;
  keys(): SpamAuth;
  options(): SpamConfig;
}

/** The operations of `/index.php?op=…`, named as the original's report link names its own. */
export const SPAM_OPS = ['createItem', 'list', 'listAll', 'listRange', 'check', 'badge'] as const;

function param(p: Params, name: string, required = false): string | undefined {
  const v = p[name];
  if (v === undefined || v === '') {
    if (required) throw new SpamError('INVALID_PARAMETER', `parameter "${name}" is required`);
    return undefined;
  }
  if (typeof v !== 'string') throw new SpamError('INVALID_PARAMETER', `parameter "${name}" must be given once, as text`);
  return v;
}

function epochParam(p: Params, name: string): number {
  const s = param(p, name, true) as string;
  if (!/^\d{1,12}$/.test(s)) throw new SpamError('INVALID_PARAMETER', `parameter "${name}" must be a time in Unix epoch seconds (digits only)`);
  return Number(s);
}

function format(p: Params): 'text' | 'xml' {
  const f = param(p, 'format') ?? 'text';
  if (f !== 'text' && f !== 'xml') throw new SpamError('INVALID_PARAMETER', 'parameter "format" must be "text" or "xml"');
  return f;
}

/** `after`: the last id of the previous page, or for a date range "<firstReported>.<id>". */
function afterParam(p: Params, range: boolean): number | { at: number; id: number } | undefined {
  const s = param(p, 'after');
  if (s === undefined) return undefined;
  const m = range ? /^(\d{1,12})\.(\d{1,15})$/.exec(s) : /^(\d{1,15})$/.exec(s);
  if (!m) throw new SpamError('INVALID_PARAMETER', 'parameter "after" is not a page cursor: follow the nextPage URL as it is');
  return range ? { at: Number(m[1]), id: Number(m[2]) } : Number(m[1]);
}

const TEXT = 'text/plain; charset=utf-8';
const XML = 'application/xml; charset=utf-8';

/** Spam list routes: reports, lists, checks and badges on `/index.php?op=…` (GET, and POST forms). */
export function registerSpamRoutes(app: FastifyInstance, deps: SpamRouteDeps): void {
  const authorizeRead = (p: Params): void => {
    if (!deps.options().publicLists) deps.keys().authorize(p.key, 'spamList');
  };

  const baseUrl = (req: FastifyRequest): string => deps.options().publicUrl?.replace(/\/+$/, '') ?? `${req.protocol}://${req.host}`;

  const list = (req: FastifyRequest, reply: FastifyReply, p: Params, op: 'list' | 'listAll' | 'listRange'): FastifyReply => {
    authorizeRead(p);
    const fmt = format(p);
    const o = deps.options();
    const domain = param(p, 'Domain');
    if (domain !== undefined && domain.length > 128) throw new SpamError('INVALID_PARAMETER', 'parameter "Domain" is longer than 128 characters');
    let q: ListQuery;
    if (op === 'listRange') {
      const from = epochParam(p, 'From');
      const to = epochParam(p, 'To');
      if (from > to) throw new SpamError('INVALID_PARAMETER', '"From" must not be after "To"');
      q = { kind: 'range', from, to, after: afterParam(p, true) as { at: number; id: number } | undefined, limit: o.pageSize };
    } else if (op === 'listAll') q = { kind: 'all', after: afterParam(p, false) as number | undefined, limit: o.pageSize };
    else q = { kind: 'above', threshold: o.listThreshold, after: afterParam(p, false) as number | undefined, limit: o.pageSize };
    const page = deps.service.list(q);
    let next: string | undefined;
    const last = page.entries[page.entries.length - 1];
    if (page.hasMore && last) {
      // Never the caller's API key: URLs end up in logs, caches and Referer headers. When the lists
      // need a key (spam.publicLists false), the caller adds its own `key` to the next request.
      const sp = new URLSearchParams({ op, format: fmt });
      for (const k of ['Domain', 'From', 'To']) {
        const v = param(p, k);
        if (v !== undefined) sp.set(k, v);
      }
      sp.set('after', op === 'listRange' ? `${last.firstReported}.${last.id}` : String(last.id));
      next = `${baseUrl(req)}/index.php?${sp.toString()}`;
    }
    // The rows are read in one statement (the daemon shares one SQLite connection: a cursor left
    // open across event-loop turns would lock out every other query), then the page is written in
    // chunks of ~64 KiB, each encoded to UTF-8 at once, and sent as one buffer (see encodeChunks).
    if (fmt === 'xml') return reply.type(XML).send(encodeChunks(xmlChunks(page.entries, next)));
    if (next !== undefined) void reply.header('Link', `<${next}>; rel="next"`);
    return reply.type(TEXT).send(encodeChunks(textChunks(page.entries)));
  };

  const lookup = (p: Params): SpamEntry[] => {
    const hash = param(p, 'Hash');
    if (hash !== undefined) {
      const e = deps.service.byHash(requireHash(hash));
      return e ? [e] : [];
    }
    const name = param(p, 'Torrent');
    if (name === undefined) throw new SpamError('INVALID_PARAMETER', 'give the torrent\'s name as "Torrent" or its infohash as "Hash"');
    return deps.service.byName(name);
  };

  const handle = async (req: FastifyRequest, reply: FastifyReply, p: Params): Promise<string | FastifyReply> => {
    const op = param(p, 'op', true) as string;
    switch (op) {
      case 'createItem': {
        let site = 'open';
        if (p.key !== undefined || !deps.options().openReports) site = deps.keys().authorize(p.key, 'spamReport').name;
        const result = await deps.service.report({
          name: param(p, 'Torrent'),
          category: param(p, 'Category'),
          hash: param(p, 'Hash', true),
          creator: param(p, 'Creator'),
          site,
          ip: req.ip,
        });
        if (format(p) === 'xml') {
          void reply.type(XML);
          return xmlList([result.entry]);
        }
        void reply.type(TEXT);
        return `${result.counted ? 'counted' : 'already counted'}: ${textLine(result.entry)}`;
      }
      case 'list':
      case 'listAll':
      case 'listRange':
        return list(req, reply, p, op);
      case 'check': {
        authorizeRead(p);
        const fmt = format(p);
        const found = lookup(p);
        void reply.type(fmt === 'xml' ? XML : TEXT);
        return fmt === 'xml' ? xmlList(found) : textList(found);
      }
      case 'badge': {
        authorizeRead(p);
        const size = (param(p, 'size') ?? 'small') as BadgeSize;
        if (!BADGE_SIZES.includes(size)) throw new SpamError('INVALID_PARAMETER', 'parameter "size" must be small, medium or large');
        const count = lookup(p).reduce((max, e) => Math.max(max, e.count), 0);
        const badge = renderBadge({ size, count, listed: deps.service.isListed(count) });
        void reply.header('ETag', badge.etag).header('Cache-Control', 'public, max-age=300').type('image/svg+xml; charset=utf-8');
        const inm = req.headers['if-none-match'];
        if (inm !== undefined && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === badge.etag || t.trim() === '*')) {
          void reply.code(304);
          return '';
        }
        return badge.svg;
      }
      default:
        throw new SpamError('INVALID_PARAMETER', `unknown op "${op}": one of ${SPAM_OPS.join(', ')}`);
    }
  };

  app.get('/index.php', { schema: SPAM_SCHEMAS.get }, (req, reply) => handle(req, reply, req.query as Params));
  app.post('/index.php', { schema: SPAM_SCHEMAS.post }, (req, reply) => {
    const body = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Params;
    return handle(req, reply, { ...(req.query as Params), ...body });
  });
}
