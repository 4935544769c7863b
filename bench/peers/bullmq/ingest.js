// The webhook side: Fastify receives OneBot v11 reports (X-Signature,
// HMAC-SHA1) or QQ webhooks (X-Signature-Ed25519) as PLATFORM says, verifies
// the signature over the raw body, and acknowledges only once BullMQ has the
// job in Redis.
//
//   POST /webhooks/<BOT_ID>   204 (OneBot) or 200 {"op":12,"d":0} (QQ): queued, a duplicate of a kept job, or not a message
//                             401 missing or wrong signature, 403 wrong X-Self-ID / self_id,
//                             400 malformed, 404 unknown bot, 503 Redis unavailable
//   GET  /health              200 while Redis answers (with the queue's waiting count), else 503
//
// Settings come from the environment (settings.js).

import Fastify from 'fastify';
import { Queue } from 'bullmq';
import * as onebot from './onebot.js';
import * as qq from './qq.js';
import { settings } from './settings.js';

if (!['onebot', 'qq'].includes(settings.platform)) throw new Error(`PLATFORM must be onebot or qq, got ${settings.platform}`);
const qqKey = settings.platform === 'qq' ? qq.publicKeyFromSecret(settings.qqSecret) : null;

const app = Fastify({ logger: { level: settings.logLevel }, bodyLimit: 1 << 20 });

const queue = new Queue(settings.queueName, {
  // Fail fast when Redis is down instead of holding the webhook open
  // (BullMQ docs: "Failing fast when Redis is down"); the platform retries a 503.
  connection: { url: settings.redisUrl, enableOfflineQueue: false },
  defaultJobOptions: {
    attempts: settings.attempts,
    backoff: { type: 'exponential', delay: settings.backoffMs, jitter: 0.2 },
    removeOnComplete: { age: settings.keepCompletedSecs, count: settings.keepCompletedCount },
    removeOnFail: { age: settings.keepFailedSecs, count: settings.keepFailedCount },
  },
});
queue.on('error', (err) => app.log.error({ err }, 'queue connection error'));

// The signature covers the raw bytes, so the JSON body is kept as a Buffer and
// parsed only after verification.
app.removeContentTypeParser('application/json');
app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

const reject = (reply, status, error) => reply.code(status).send({ error });

// The platform's checks: the job to queue, `null` (acknowledged, not queued), or a refusal.
function onebotJob(request, raw) {
  if (settings.secret) {
    const signature = request.headers['x-signature'];
    if (signature === undefined) throw new onebot.Rejection(401, 'missing_signature');
    if (!onebot.signatureMatches(settings.secret, raw, signature)) throw new onebot.Rejection(401, 'invalid_signature');
  }
  const selfId = request.headers['x-self-id'];
  if (typeof selfId !== 'string' || (settings.selfId && selfId !== settings.selfId)) {
    throw new onebot.Rejection(403, 'wrong_recipient');
  }
  return onebot.messageJob(raw, selfId);
}

function qqJob(request, raw) {
  const signature = request.headers['x-signature-ed25519'];
  const timestamp = request.headers['x-signature-timestamp'];
  if (signature === undefined || timestamp === undefined) throw new qq.Rejection(401, 'missing_signature');
  if (!qq.signatureMatches(qqKey, timestamp, raw, signature)) throw new qq.Rejection(401, 'invalid_signature');
  return qq.messageJob(raw);
}

app.post('/webhooks/:bot', async (request, reply) => {
  if (request.params.bot !== settings.botId) return reject(reply, 404, 'unknown_bot');
  const raw = request.body;
  if (!Buffer.isBuffer(raw)) return reject(reply, 400, 'malformed_payload');
  let job;
  try {
    job = settings.platform === 'qq' ? qqJob(request, raw) : onebotJob(request, raw);
  } catch (err) {
    if (err instanceof onebot.Rejection || err instanceof qq.Rejection) return reject(reply, err.status, err.code);
    throw err;
  }
  if (job !== null) {
    try {
      // A jobId that is already in the queue (waiting, active, or kept after
      // finishing) is not added again: BullMQ's own deduplication.
      await queue.add('message', job.data, { jobId: job.jobId });
    } catch (err) {
      request.log.warn({ err }, 'enqueue failed');
      return reply.code(503).header('retry-after', '1').send({ error: 'unavailable' });
    }
  }
  // OneBot takes an empty 204; QQ an HTTP callback ACK, {"op":12,"d":0}, as botq answers.
  return settings.platform === 'qq' ? reply.code(200).send({ op: 12, d: 0 }) : reply.code(204).send();
});

app.get('/health', async (_request, reply) => {
  try {
    return { status: 'ok', waiting: await queue.count() };
  } catch {
    return reply.code(503).send({ status: 'redis unavailable' });
  }
});

async function shutdown(signal) {
  app.log.info({ signal }, 'shutting down');
  await app.close();
  await queue.close();
  process.exit(0);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

await queue.waitUntilReady();
await app.listen({ host: settings.host, port: settings.port });
console.log(`ingest listening on http://${settings.host}:${settings.port}/webhooks/${settings.botId}`);
