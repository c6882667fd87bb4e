import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { RequestError } from './http-errors.js';
import type { ApiDeps } from './api-ports.js';
import { getRoute, JSON_TYPE } from './get-route.js';
import { boolParam, infohashParam, intParam, msParam, stringParam, type Params } from './params.js';
import { peerPageJson } from '../api-shape/peer-page-json.js';
import { CAPTURE_SCHEMAS as S } from './capture-schemas.js';

/** Params of a POST: the form body, with the query string as a fallback for `key`. */
export function formParams(body: unknown, query: unknown): Params {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Params;
  const q = (typeof query === 'object' && query !== null ? query : {}) as Params;
  return { ...q, ...b };
}

const PCAP_TYPE = 'application/vnd.tcpdump.pcap';

/** The Capture API (spec: capture-api.md). */
export function registerCaptureRoutes(app: FastifyInstance, deps: ApiDeps): void {
  getRoute(app, '/capture/peers/all/', {
    schema: S.peers,
    check(req) {
      const q = req.query as Params;
      const caller = deps.keys().authorize(q.key, 'peers');
      const filter = stringParam(q, 'filter', true);
      const from = msParam(q, 'from');
      const to = msParam(q, 'to', Date.now() + 1);
      if (from > to) throw new RequestError('INVALID_PARAMETER', '"from" must not be after "to"');
      const success = boolParam(q, 'success');
      caller.requireFilter(filter);
      deps.filters.require(filter);
      return { filter, from, to, success };
    },
    async run(q, _req, reply) {
      const page = await deps.captures.page({ ...q, pageSize: deps.pageSize() });
      // The JSON written straight into bytes (the same text JSON.stringify gave): no objects per row.
      return reply.type(JSON_TYPE).send(peerPageJson(page));
    },
  });

  getRoute(app, '/capture/filters/', {
    schema: S.filters,
    check: (req) => deps.keys().authorize((req.query as Params).key, 'filters'),
    run(caller) {
      const filters = deps.filters
        .list()
        .filter((f) => caller.mayUseFilter(f.name))
        .map((f) => ({
          name: f.name,
          description: f.description,
          infohashes: f.infohashes,
          subnets: f.subnets,
          countryCodes: f.countryCodes,
          storeTCPDumpFile: f.storeTCPDumpFile,
          storeTCPDumpAttempt: f.storeTCPDumpAttempt,
          enabled: f.enabled,
        }));
      return { filters };
    },
  });

  for (const op of ['addInfohash', 'deleteInfohash'] as const) {
    app.post(`/capture/filters/${op}/`, { schema: S[op] }, async (req) => {
      const p = formParams(req.body, req.query);
      const caller = deps.keys().authorize(p.key, op);
      const filter = stringParam(p, 'filter', true);
      const infohash = infohashParam(p);
      caller.requireFilter(filter);
      if (op === 'addInfohash') await deps.filters.addInfohash(filter, infohash);
      else await deps.filters.deleteInfohash(filter, infohash);
      req.log.info({ filter, infoHash: infohash, apiKey: caller.name }, op);
      return {};
    });
  }

  getRoute(app, '/capture/pcap/', {
    schema: S.pcap,
    contentType: PCAP_TYPE,
    async check(req) {
      const q = req.query as Params;
      const caller = deps.keys().authorize(q.key, 'pcap');
      const id = intParam(q, 'id');
      const capture = await deps.captures.get(id);
      const visible = capture !== undefined && (await deps.captures.filtersOf(id)).some((f) => caller.mayUseFilter(f));
      if (!capture || !visible) throw new RequestError('CAPTURE_NOT_FOUND', `capture ${id} not found`);
      if (capture.pcapPath === undefined) throw new RequestError('PCAP_NOT_FOUND', `capture ${id} has no pcap`);
      const info = await stat(capture.pcapPath).catch(() => undefined);
      if (!info?.isFile()) throw new RequestError('PCAP_NOT_FOUND', `the pcap of capture ${id} is no longer stored`);
      return { id, path: capture.pcapPath, size: info.size };
    },
    run(pcap, _req, reply) {
      return reply
        .type(PCAP_TYPE)
        .header('content-length', pcap.size)
        .header('content-disposition', `attachment; filename="capture-${pcap.id}.pcap"`)
        .send(createReadStream(pcap.path));
    },
  });
}
