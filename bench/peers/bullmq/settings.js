// Settings of both processes, from the environment. The defaults are the
// values the side-by-side benchmark (scripts/bench-peers.sh) runs with; where
// a setting maps onto one of botq's, the comment names it.

const env = (name, fallback) => process.env[name] ?? fallback;
const int = (name, fallback) => {
  const raw = env(name, String(fallback));
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number ≥ 0, got ${JSON.stringify(raw)}`);
  return n;
};

export const settings = Object.freeze({
  redisUrl: env('REDIS_URL', 'redis://127.0.0.1:6379'),
  queueName: env('QUEUE_NAME', 'onebot-events'),
  logLevel: env('LOG_LEVEL', 'warn'),

  // The platform both processes speak: "onebot" (OneBot v11 HTTP) or "qq" (QQ's official bot API).
  platform: env('PLATFORM', 'onebot'),

  // ingest.js
  host: env('HOST', '127.0.0.1'),
  port: int('PORT', 18380),
  // The one bot this service answers for: POST /webhooks/<botId>.
  botId: env('BOT_ID', 'onebot-bench'),
  // HMAC-SHA1 key of X-Signature (botq: [[bot]] secret). Empty: reports are not signed.
  secret: env('ONEBOT_SECRET', 'bench-onebot-secret'),
  // The bot's QQ number; X-Self-ID must match when set (botq: [[bot]] app_id).
  selfId: env('ONEBOT_SELF_ID', '10001000'),

  // Job options, set as the queue's defaultJobOptions by ingest.js.
  attempts: int('ATTEMPTS', 5), // botq: worker.max_attempts = 5
  backoffMs: int('BACKOFF_MS', 1000), // botq: worker.backoff.initial_ms = 1000, multiplier 2
  // Completed jobs are kept this long / this many (BullMQ's "keep jobs" auto-removal).
  // A jobId is only deduplicated while its job is still kept, so this is the dedupe window.
  keepCompletedSecs: int('KEEP_COMPLETED_SECS', 3600),
  keepCompletedCount: int('KEEP_COMPLETED_COUNT', 100000),
  // Failed jobs are the dead letters (botq: worker.dlq_max_age_secs, dlq_max_len).
  keepFailedSecs: int('KEEP_FAILED_SECS', 14 * 24 * 3600),
  keepFailedCount: int('KEEP_FAILED_COUNT', 100000),

  // worker.js
  concurrency: int('CONCURRENCY', 64), // botq: worker.concurrency = 64
  // Replies per second for the whole bot (BullMQ's queue-wide limiter; botq: reply_limit.bot_per_sec).
  replyLimitPerSec: int('REPLY_LIMIT_PER_SEC', 50000),
  // The OneBot HTTP API (botq: [[bot]] api_base, access_token).
  apiBase: env('ONEBOT_API_BASE', 'http://127.0.0.1:8090/onebot').replace(/\/+$/, ''),
  accessToken: env('ONEBOT_ACCESS_TOKEN', ''),
  replyTimeoutMs: int('REPLY_TIMEOUT_MS', 10000), // botq: worker.reply_timeout_secs = 10

  // QQ (PLATFORM=qq): the bot's app id and secret (botq: [[bot]] app_id, secret; the
  // secret also derives the webhook signing key), the API and its token endpoint.
  qqAppId: env('QQ_APP_ID', '102000000'),
  qqSecret: env('QQ_SECRET', 'bench-qq-secret-not-for-production'),
  qqApiBase: env('QQ_API_BASE', 'http://127.0.0.1:8090').replace(/\/+$/, ''),
  qqTokenUrl: env('QQ_TOKEN_URL', 'http://127.0.0.1:8090/app/getAppAccessToken'),
});
