import { z } from 'zod';
import { json, media, named, type RouteSchema } from '../api-shape/route-schema.js';
import type { ApiErrorCode } from './http-errors.js';

/** The schemas of the Capture API, torrents and health routes, as /openapi.json declares them (docs/api.md in words). */

const KEY_ERRORS: readonly ApiErrorCode[] = ['API_KEY_UNKNOWN', 'API_KEY_SUSPENDED', 'ACCESS_FORBIDDEN'];

const key = z.string().describe('the API key (apiKeys in the config)');
const infohash = z.string().regex(/^[0-9a-fA-F]{40}$/).describe('40 hexadecimal characters, any case (INVALID_INFOHASH otherwise)');
const apiDate = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$/).describe('UTC, exactly YYYY-MM-DDTHH:mm:ss.SSS+0000');
const hex40 = z.string().regex(/^[0-9a-f]{40}$/).describe('lowercase hex infohash');
const ms = z.string().regex(/^\d{1,16}$/);

export const captureReport = named(
  'CaptureReport',
  z.strictObject({
    date: apiDate,
    totalPiecesInTorrent: z.int().min(0),
    hasTotal: z.boolean().describe('true = seeder'),
    hasPieces: z.int().min(0),
    clientName: z.string(),
    hostIdentifier: z.string().describe('reverse DNS, "" when unknown'),
    note: z.string().optional().describe('extension: what the capture noticed that the fields cannot say'),
  }),
);

export const peer = named(
  'Peer',
  z.strictObject({
    date: apiDate.describe('when the peer was found'),
    ip: z.string(),
    port: z.int().min(0).max(65535),
    infohash: hex40,
    countryCode: z.string().describe('ISO 3166-1 alpha-2, "" when unknown'),
    city: z.string(),
    isp: z.string(),
    captureReport: captureReport.optional().describe('only on a successful capture'),
    error: z.string().optional().describe('only on a failed attempt'),
    pcap: z.string().optional().describe('extension: where to download the pcap of this capture'),
  }),
);

const peersPage = named(
  'PeersPage',
  z.strictObject({
    from: z.int(),
    to: z.int().describe('the real end of this page: ask again from here while hasMore'),
    hasMore: z.boolean(),
    peers: z.array(peer),
  }),
);

const filter = named(
  'CaptureFilter',
  z.strictObject({
    name: z.string(),
    description: z.string(),
    infohashes: z.array(hex40),
    subnets: z.array(z.string()),
    countryCodes: z.array(z.string()),
    storeTCPDumpFile: z.boolean(),
    storeTCPDumpAttempt: z.boolean(),
    enabled: z.boolean(),
  }),
);

export const torrent = named(
  'Torrent',
  z.strictObject({
    infohash: hex40,
    state: z.enum(['unknown', 'pending', 'known']),
    name: z.string().optional(),
    totalSize: z.int().min(0).optional(),
    pieceLength: z.int().min(0).optional(),
    pieceCount: z.int().min(0).optional(),
    files: z.array(z.strictObject({ path: z.string(), length: z.int().min(0) })).optional(),
    source: z.string().optional().describe('upload, infohash, dht, …'),
    addedAt: z.int().optional().describe('epoch ms'),
    updatedAt: z.int().optional().describe('epoch ms'),
  }),
);

const healthCheck = z.strictObject({ ok: z.boolean(), detail: z.string() });
const healthReport = named(
  'HealthReport',
  z.strictObject({
    ready: z.boolean(),
    checkedAt: z.string(),
    checks: z.strictObject({ api: healthCheck, database: healthCheck, dht: healthCheck, eventLoop: healthCheck }),
    warnings: z.array(z.string()),
  }),
);

const filterForm = z.object({ key, filter: z.string().min(1), infohash });

const STORAGE: readonly ApiErrorCode[] = ['STORAGE_UNAVAILABLE'];

export const CAPTURE_SCHEMAS = {
  peers: {
    summary: 'Captured peers of a filter, one page',
    description: "Follow hasMore with from = the answer's to. A page never splits one millisecond.",
    tags: ['Capture API'],
    querystring: z.object({
      key,
      filter: z.string().min(1).describe('Capture Filter name'),
      from: ms.describe('ms, inclusive'),
      to: ms.optional().describe('ms, exclusive; default now'),
      success: z.enum(['true', 'false']).optional().describe('true = only captured peers, false = only failed attempts'),
    }),
    response: { 200: json('a page of peers in date order', peersPage) },
    errors: [...KEY_ERRORS, 'FILTER_NOT_FOUND'],
  },
  filters: {
    summary: 'The Capture Filters this key may use, with their current infohashes',
    tags: ['Capture API'],
    querystring: z.object({ key }),
    response: { 200: json('the filters', named('Filters', z.strictObject({ filters: z.array(filter) }))) },
    errors: KEY_ERRORS,
  },
  addInfohash: {
    summary: "Add an infohash to a filter (the torrent's metadata must be known)",
    tags: ['Capture API'],
    consumes: ['application/x-www-form-urlencoded', 'application/json'],
    body: filterForm,
    response: { 200: z.strictObject({}).describe('added (or already there)') },
    errors: [...KEY_ERRORS, ...STORAGE, 'INVALID_INFOHASH', 'FILTER_NOT_FOUND', 'INFOHASH_NOT_FOUND', 'TORRENT_FILE_NOT_FOUND'],
  },
  deleteInfohash: {
    summary: 'Remove an infohash from a filter (a filter with infohashes keeps one)',
    tags: ['Capture API'],
    consumes: ['application/x-www-form-urlencoded', 'application/json'],
    body: filterForm,
    response: { 200: z.strictObject({}).describe('removed') },
    errors: [...KEY_ERRORS, ...STORAGE, 'INVALID_INFOHASH', 'FILTER_NOT_FOUND', 'INFOHASH_NOT_FOUND', 'FILTER_WITHOUT_INFOHASHES_NOT_ALLOWED'],
  },
  pcap: {
    summary: 'Download the pcap of a capture (the `pcap` link of a peer)',
    tags: ['Capture API'],
    querystring: z.object({ key, id: z.string().regex(/^\d{1,15}$/).describe('capture id') }),
    response: { 200: media('the pcap (classic, or pcapng for an encrypted conversation)', { 'application/vnd.tcpdump.pcap': z.string().describe('binary') }) },
    errors: [...KEY_ERRORS, 'CAPTURE_NOT_FOUND', 'PCAP_NOT_FOUND'],
  },
  addTorrent: {
    summary: 'Upload a .torrent',
    description: 'multipart/form-data with the file in the field "torrent" and `key` as a field (or in the query string), or the raw file as application/x-bittorrent with ?key=',
    tags: ['Torrents'],
    consumes: ['multipart/form-data', 'application/x-bittorrent'],
    querystring: z.object({ key: key.optional() }),
    response: { 200: json('the torrent, state known', torrent) },
    errors: [...KEY_ERRORS, ...STORAGE, 'INVALID_TORRENT', 'RATE_LIMITED'],
  },
  addTorrentInfohash: {
    summary: 'Add a bare infohash: the metadata is fetched from peers (BEP 9)',
    tags: ['Torrents'],
    consumes: ['application/x-www-form-urlencoded', 'application/json'],
    body: z.object({ key, infohash }),
    response: { 200: json('the torrent, pending until its metadata is fetched', torrent) },
    errors: [...KEY_ERRORS, ...STORAGE, 'INVALID_INFOHASH'],
  },
  torrentState: {
    summary: "A torrent's state (unknown / pending / known) and metadata",
    tags: ['Torrents'],
    querystring: z.object({ key, infohash }),
    response: { 200: json('the torrent', torrent) },
    errors: [...KEY_ERRORS, 'INVALID_INFOHASH'],
  },
  healthz: {
    summary: 'Liveness: 200 while the process answers',
    tags: ['Health'],
    response: { 200: z.strictObject({ status: z.literal('ok') }).describe('alive') },
    errors: [],
  },
  readyz: {
    summary: 'Readiness: API bound, database writable, DHT answering, event loop not stuck',
    tags: ['Health'],
    response: { 200: json('ready', healthReport), 503: json('not ready: the failing checks say why', healthReport) },
    errors: [],
  },
} satisfies Record<string, RouteSchema>;
