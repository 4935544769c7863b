// The handling side: a BullMQ Worker with a concurrency cap and a queue-wide
// rate limiter answers /ping with "pong" (and /echo) through the OneBot HTTP
// API's send_group_msg / send_private_msg, over keep-alive connections.
//
// Failures are classified the way botq classifies them:
// - network errors, timeouts, 5xx, 408: thrown, so BullMQ retries with
//   exponential backoff until the job's attempts are used up (then it stays
//   in the failed set: the dead letters);
// - 429 or retcode 1400 (throttled): the whole queue waits Retry-After
//   (queue.rateLimit + RateLimitError, BullMQ's manual rate limiting), and the
//   job is retried without using an attempt;
// - 401/403 (token refused), 400/406, other retcodes: UnrecoverableError, failed at once.

import { Queue, RateLimitError, UnrecoverableError, Worker } from 'bullmq';
import { Agent, request } from 'undici';
import { replyText, sendAction } from './onebot.js';
import { settings } from './settings.js';

// One keep-alive pool to the OneBot API, at most one connection per job in flight.
const agent = new Agent({ connections: settings.concurrency, keepAliveTimeout: 30_000 });
const headers = { 'content-type': 'application/json' };
if (settings.accessToken) headers.authorization = `Bearer ${settings.accessToken}`;

function retryAfterMs(value) {
  const secs = Number(value);
  return Number.isFinite(secs) && secs > 0 ? Math.ceil(secs * 1000) : 1000;
}

async function handle(job) {
  const text = replyText(job.data);
  if (text === null) return { replied: false };
  const { url, body } = sendAction(settings.apiBase, job.data, text);
  const res = await request(url, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
    dispatcher: agent,
    headersTimeout: settings.replyTimeoutMs,
    bodyTimeout: settings.replyTimeoutMs,
  });
  const answer = await res.body.text();
  const status = res.statusCode;
  let parsed = null;
  try {
    parsed = JSON.parse(answer);
  } catch {
    // not JSON: decided by the status alone
  }
  if (status === 429 || parsed?.retcode === 1400) {
    await queue.rateLimit(retryAfterMs(res.headers['retry-after']));
    throw new RateLimitError();
  }
  if (status >= 500 || status === 408) throw new Error(`OneBot API answered HTTP ${status}`);
  if (status !== 200) throw new UnrecoverableError(`OneBot API refused the request: HTTP ${status}`);
  if ((parsed?.status === 'ok' && parsed.retcode === 0) || (parsed?.status === 'async' && parsed.retcode === 1)) {
    return { replied: true, messageId: parsed.data?.message_id ?? null };
  }
  throw new UnrecoverableError(`OneBot API answered retcode ${parsed?.retcode}`);
}

const connection = { url: settings.redisUrl, maxRetriesPerRequest: null };
// Only for queue.rateLimit when the platform throttles (Worker.rateLimit is deprecated).
const queue = new Queue(settings.queueName, { connection });
const worker = new Worker(settings.queueName, handle, {
  connection,
  concurrency: settings.concurrency,
  limiter: { max: settings.replyLimitPerSec, duration: 1000 },
});

worker.on('failed', (job, err) => {
  if (!job || err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1)) {
    console.error(`job ${job?.id} failed for good after ${job?.attemptsMade} attempt(s): ${err.message}`);
  } else if (settings.logLevel === 'debug') {
    console.error(`job ${job?.id} attempt failed, will retry: ${err.message}`);
  }
});
worker.on('error', (err) => console.error(`worker error: ${err.message}`));

async function shutdown() {
  await worker.close();
  await queue.close();
  await agent.close();
  process.exit(0);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

await worker.waitUntilReady();
console.log(`worker ready: queue ${settings.queueName}, concurrency ${settings.concurrency}, replies to ${settings.apiBase}`);
