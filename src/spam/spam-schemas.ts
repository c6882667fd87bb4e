import { z } from 'zod';
import { media, noBody, type RouteSchema } from '../api-shape/route-schema.js';

const text = z.string();
const params = z.object({
  op: z.enum(['createItem', 'list', 'listAll', 'listRange', 'check', 'badge']),
  format: z.enum(['text', 'xml']).optional().describe('default text'),
  Torrent: z.string().optional().describe("the torrent's name (createItem, check, badge)"),
  Hash: z.string().optional().describe('infohash, 40 hex characters (required by createItem)'),
  Category: z.string().optional(),
  Creator: z.string().optional().describe('the reporter (empty or Anonymous: counted by address)'),
  Submit: z.string().optional(),
  Domain: z.string().optional().describe("the caller's site (at most 128 characters)"),
  From: z.string().optional().describe('listRange: Unix epoch seconds, inclusive'),
  To: z.string().optional().describe('listRange: Unix epoch seconds, inclusive'),
  after: z.string().optional().describe('page cursor: follow the nextPage URL / Link header as it is'),
  size: z.enum(['small', 'medium', 'large']).optional().describe('badge size, default small'),
  key: z.string().optional().describe('API key: to report (unless spam.openReports), to read (when spam.publicLists is false); nextPage URLs never carry it: add it to each request'),
});

const answers = {
  200: media('text lines "Torrent Name --- Hash Value --- Count" (createItem: "counted: LINE"), the XML list, or the SVG badge', {
    'text/plain': text,
    'application/xml': text.describe('<spamList count="N"><torrent>…</torrent><nextPage>…</nextPage></spamList>'),
    'image/svg+xml': text,
  }),
  304: noBody('badge: If-None-Match matched its ETag'),
};
const errors = ['API_KEY_UNKNOWN', 'API_KEY_SUSPENDED', 'ACCESS_FORBIDDEN', 'INVALID_INFOHASH', 'RATE_LIMITED', 'STORAGE_UNAVAILABLE'];

/** What the spam list's `/index.php?op=…` declares for /openapi.json (docs/api.md, "Spam list", in words). */
export const SPAM_SCHEMAS = {
  get: {
    summary: 'Spam list: report, list, check or badge (op=…)',
    tags: ['Spam list'],
    querystring: params,
    response: answers,
    errors,
  },
  post: {
    summary: 'Spam list: the same operations with the parameters as a form',
    tags: ['Spam list'],
    consumes: ['application/x-www-form-urlencoded'],
    querystring: params.partial(),
    body: params.partial(),
    response: answers,
    errors,
  },
} satisfies Record<string, RouteSchema>;
