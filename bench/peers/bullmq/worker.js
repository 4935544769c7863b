// The handling side: a BullMQ Worker with a concurrency cap and a queue-wide
// rate limiter answers /ping with "pong" (and /echo) through the OneBot HTTP
// API's send_group_msg / send_private_msg or, with PLATFORM=qq, QQ's group
// and C2C message API (with its access token, cached until shortly before it
// expires), over keep-alive connections.
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
import * as onebot from './onebot.js';
import * as qq from './qq.js';
import { settings } from './settings.js';

// One keep-alive pool to the OneBot API, at most one connection per job in flight.
const agent = new Agent({ connections: settings.concurrency, keepAliveTimeout: 30_000 });
const headers = { 'content-type': 'application/json' };
if (settings.accessToken) headers.authorization = `Bearer ${settings.accessToken}`;

function retryAfterMs(value) {
  const secs = Number(value);
  return Number.isFinite(secs) && secs > 0 ? Math.ceil(secs * 1000) : 1000;
}

async function post(url, body, extraHeaders = {}) {
  const res = await request(url, {
    method: 'POST',
    headers: { ...headers, ...extraHeaders },
    body: JSON.stringify(body),
    dispatcher: agent,
    headersTimeout: settings.replyTimeoutMs,
    bodyTimeout: settings.replyTimeoutMs,
  });
  return { status: res.statusCode, retryAfter: res.headers['retry-after'], answer: await res.body.text() };
}

// QQ's access token: one fetch at a time, kept until 60 s before it expires.
let qqToken = null; // { value, expiresAtMs } or a pending Promise of one
async function qqAccessToken() {
  if (qqToken && !(qqToken instanceof Promise) && Date.now() < qqToken.expiresAtMs) return qqToken.value;
  if (!(qqToken instanceof Promise)) {
    qqToken = (async () => {
      const { status, answer } = await post(settings.qqTokenUrl, { appId: settings.qqAppId, clientSecret: settings.qqSecret });
      const parsed = status === 200 ? JSON.parse(answer) : null;
      if (typeof parsed?.access_token !== 'string') throw new Error(`QQ token endpoint answered HTTP ${status}`);
      return { value: parsed.access_token, expiresAtMs: Date.now() + (Number(parsed.expires_in) - 60) * 1000 };
    })().then(
      (t) => (qqToken = t),
      (err) => {
        qqToken = null;
        throw err;
      },
    );
  }
  return (await qqToken).value;
}

async function handleQq(job) {
  const text = qq.replyText(job.data);
  if (text === null) return { replied: false };
  const { url, body } = qq.sendRequest(settings.qqApiBase, job.data, text);
  const token = await qqAccessToken();
  const { status, retryAfter, answer } = await post(url, body, { authorization: `QQBot ${token}` });
  if (status === 429) {
    await queue.rateLimit(retryAfterMs(retryAfter));
    throw new RateLimitError();
  }
  if (status === 401) {
    qqToken = null; // refused: fetch a new one for the retry
    throw new Error('QQ API refused the access token');
  }
  if (status >= 500 || status === 408) throw new Error(`QQ API answered HTTP ${status}`);
  if (status !== 200) throw new UnrecoverableError(`QQ API refused the request: HTTP ${status} ${answer.slice(0, 200)}`);
  return { replied: true, messageId: JSON.parse(answer).id ?? null };
}

async function handle(job) {
  if (settings.platform === 'qq') return handleQq(job);
  const text = onebot.replyText(job.data);
  if (text === null) return { replied: false };
  const { url, body } = onebot.sendAction(settings.apiBase, job.data, text);
  const { status, retryAfter, answer } = await post(url, body);
  let parsed = null;
  try {
    parsed = JSON.parse(answer);
  } catch {
    // not JSON: decided by the status alone
  }
  if (status === 429 || parsed?.retcode === 1400) {
    await queue.rateLimit(retryAfterMs(retryAfter));
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
console.log(
  `worker ready: queue ${settings.queueName}, concurrency ${settings.concurrency}, ` +
    `replies to ${settings.platform === 'qq' ? settings.qqApiBase : settings.apiBase} (${settings.platform})`,
);
