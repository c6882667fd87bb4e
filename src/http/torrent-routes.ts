import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MAX_INFO_BYTES } from '../protocol/metainfo.js';
import { parseTorrentFileOffLoop } from '../protocol/metainfo-pool.js';
import { AppError, errorMessage } from '../util/app-error.js';
import { RequestError } from './http-errors.js';
import type { ApiDeps } from './api-ports.js';
import { formParams } from './capture-routes.js';
import { getRoute } from './get-route.js';
import { infohashParam, type Params } from './params.js';
import { CAPTURE_SCHEMAS as S } from './capture-schemas.js';

/** Reads the uploaded .torrent: a multipart field "torrent", or the raw body (application/x-bittorrent). */
async function readUpload(req: FastifyRequest): Promise<{ file: Buffer; fields: Params }> {
  if (req.isMultipart()) {
    const fields: Params = {};
    let file: Buffer | undefined;
    let truncated = false;
    try {
      for await (const part of req.parts({ limits: { files: 1, fileSize: Math.min(MAX_INFO_BYTES + 65536, req.server.initialConfig.bodyLimit ?? MAX_INFO_BYTES), fields: 10 } })) {
        if (part.type === 'file') {
          part.file.once('limit', () => (truncated = true));
          file = await part.toBuffer();
        } else {
          fields[part.fieldname] = part.value;
        }
      }
    } catch (err) {
      // A file over the limit may also end the form early: it is still "too large", not "malformed".
      if (truncated) throw new RequestError('PAYLOAD_TOO_LARGE', 'the uploaded file is too large', { cause: err });
      if (err instanceof AppError || typeof (err as { statusCode?: unknown }).statusCode === 'number') throw err;
      throw new RequestError('INVALID_PARAMETER', `malformed multipart body: ${errorMessage(err)}`, { cause: err });
    }
    if (!file) throw new RequestError('INVALID_PARAMETER', 'multipart upload has no file part (name it "torrent")');
    return { file, fields };
  }
  if (Buffer.isBuffer(req.body)) return { file: req.body, fields: {} };
  throw new RequestError('INVALID_PARAMETER', 'send the .torrent as multipart/form-data (field "torrent") or as application/x-bittorrent');
}

/** The torrent side the Capture API relies on: upload a .torrent, add a bare infohash, see a torrent's state. */
export function registerTorrentRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.addContentTypeParser('application/x-bittorrent', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.post('/torrents/addTorrent/', { schema: S.addTorrent }, async (req) => {
    // A key in the query string is checked before the upload is read.
    const queryKey = (req.query as Params).key;
    if (queryKey !== undefined) deps.keys().authorize(queryKey, 'addTorrent');
    const { file, fields } = await readUpload(req);
    const p = { ...(req.query as Params), ...fields };
    deps.keys().authorize(p.key, 'addTorrent');
    // A large file is checked on a worker thread; an invalid one: AppError INVALID_TORRENT (400).
    const meta = await parseTorrentFileOffLoop(file);
    await deps.torrents.putMetadata(meta, 'upload');
    req.log.info({ infoHash: meta.infohash, name: meta.name }, 'torrent added');
    return await deps.torrents.get(meta.infohash);
  });

  app.post('/torrents/addInfohash/', { schema: S.addTorrentInfohash }, async (req) => {
    const p = formParams(req.body, req.query);
    deps.keys().authorize(p.key, 'addTorrent');
    const infohash = infohashParam(p);
    await deps.torrents.addPending(infohash, 'infohash');
    const torrent = await deps.torrents.get(infohash);
    // Pending (new, or added before): fetch now, from the peers already seen and from the DHT.
    if (torrent.state !== 'known') deps.onMetadataWanted?.(infohash);
    return torrent;
  });

  getRoute(app, '/torrents/state/', {
    schema: S.torrentState,
    check(req) {
      const q = req.query as Params;
      deps.keys().authorize(q.key, 'torrentState');
      return infohashParam(q);
    },
    run: async (infohash) => await deps.torrents.get(infohash),
  });
}
