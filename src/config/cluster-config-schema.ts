import { z } from 'zod';

/** Multi-node roles (src/cluster/, docs/multi-node.md); unused while role is "all". */
export const clusterConfigSchema = z
  .strictObject({
    nodeId: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'may contain letters, digits, "_", "." and "-" only (1-64 characters)')
      .optional(),
    amqp: z
      .strictObject({
        url: z.string().min(1).default('amqp://guest:guest@127.0.0.1:5672'),
        prefix: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{1,100}$/, 'may contain letters, digits, "_", "." and "-" only')
          .default('capture-daemon'),
        connectTimeoutMs: z.number().int().min(100).default(10_000),
      })
      .prefault({}),
    forward: z
      .strictObject({
        batchSize: z.number().int().min(1).max(10_000).default(500),
        pollIntervalMs: z.number().int().min(10).default(200),
        confirmTimeoutMs: z.number().int().min(100).default(30_000),
        maxBacklogRows: z.number().int().min(1).default(2_000_000),
        // Sightings (every peer of a watched torrent the DHT shows this crawler) go to the center's
        // peers table too; written to the outbox every 250 ms, dropped (counted) past half the backlog.
        sightings: z.boolean().default(true),
      })
      .prefault({}),
    ingest: z
      .strictObject({
        // Room for `writers` full batches in flight and the next one arriving.
        prefetch: z.number().int().min(1).max(65_535).default(6000),
        // 2,000: a batch of 500 cost ~1.5x the CPU per capture of 10,000 (per-transaction work), 2,000 is close to 10,000.
        batchSize: z.number().int().min(1).max(10_000).default(2000),
        batchWaitMs: z.number().int().min(0).default(100),
        writeTimeoutMs: z.number().int().min(100).default(30_000),
        // Batches written at once, each on its own store connection (a second one only takes a full batch).
        writers: z.number().int().min(1).max(16).default(2),
      })
      .prefault({}),
    sharedConfig: z
      .strictObject({
        publishIntervalMs: z.number().int().min(100).default(5_000),
      })
      .prefault({}),
    workSplit: z
      .strictObject({
        crawlerCount: z.number().int().min(0).max(1024).default(0),
        crawlerIndex: z.number().int().min(0).max(1023).default(0),
        heartbeatIntervalMs: z.number().int().min(100).default(2_000),
        claimHoldMs: z.number().int().min(0).default(2_000),
        partitionHoldMs: z.number().int().min(0).default(60_000),
        maxClaims: z.number().int().min(1).default(500_000),
      })
      .prefault({}),
  })
  .prefault({});
