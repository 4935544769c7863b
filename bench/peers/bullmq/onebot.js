// OneBot v11 "HTTP POST" reports in, send actions out: the protocol parts of
// the peer, kept apart from Fastify and BullMQ so they can be tested alone.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { commandReply } from './commands.js';

/**
 * Whether `header` is `sha1=<hex>` of HMAC-SHA1(secret, rawBody). The hex may
 * be upper case (Lagrange sends it so). Constant time in the signature.
 */
export function signatureMatches(secret, rawBody, header) {
  if (typeof header !== 'string' || !header.startsWith('sha1=')) return false;
  const hex = header.slice(5);
  if (!/^[0-9a-fA-F]{40}$/.test(hex)) return false;
  const claimed = Buffer.from(hex, 'hex');
  const expected = createHmac('sha1', secret).update(rawBody).digest();
  return timingSafeEqual(claimed, expected);
}

/**
 * A report's id field as a decimal string. OneBot v11 says ids are int32, but
 * some implementations (and botq-bench, which numbers events from the Unix
 * time in nanoseconds) send int64 ids past 2^53, which JSON.parse rounds:
 * 256 neighbouring message ids would become one job id. Those are read from
 * the raw text instead.
 */
function idString(parsed, rawText, key) {
  if (typeof parsed === 'string' && /^-?\d+$/.test(parsed)) return parsed;
  if (Number.isSafeInteger(parsed)) return String(parsed);
  if (typeof parsed !== 'number') return null;
  const m = rawText.match(new RegExp(`"${key}"\\s*:\\s*(-?\\d+)`));
  return m ? m[1] : null;
}

export class Rejection extends Error {
  constructor(status, code) {
    super(code);
    this.status = status;
    this.code = code;
  }
}

/**
 * The job for one verified report: `null` for reports that are not messages
 * (acknowledged, not queued). Throws a Rejection for malformed reports.
 */
export function messageJob(rawBody, headerSelfId) {
  const text = rawBody.toString('utf8');
  let report;
  try {
    report = JSON.parse(text);
  } catch {
    throw new Rejection(400, 'malformed_payload');
  }
  if (report === null || typeof report !== 'object') throw new Rejection(400, 'malformed_payload');
  const selfId = idString(report.self_id, text, 'self_id');
  if (selfId === null || selfId !== headerSelfId) throw new Rejection(403, 'wrong_recipient');
  if (report.post_type !== 'message') return null;
  const kind = report.message_type;
  if (kind !== 'group' && kind !== 'private') return null;
  const messageId = idString(report.message_id, text, 'message_id');
  const userId = idString(report.user_id, text, 'user_id');
  const groupId = kind === 'group' ? idString(report.group_id, text, 'group_id') : null;
  const message = report.raw_message ?? (typeof report.message === 'string' ? report.message : null);
  if (messageId === null || userId === null || (kind === 'group' && groupId === null)) {
    throw new Rejection(400, 'malformed_payload');
  }
  if (!Number.isInteger(report.time) || typeof message !== 'string') throw new Rejection(400, 'malformed_payload');
  return {
    // botq dedupes OneBot messages on self_id:message_id:time, because an
    // implementation may reuse a message id after a restart; BullMQ forbids ':' in ids.
    jobId: `onebot-${selfId}-${messageId}-${report.time}`,
    data: {
      selfId,
      kind,
      chatId: kind === 'group' ? groupId : userId,
      userId,
      messageId,
      time: report.time,
      text: message,
      receivedAtMs: Date.now(),
    },
  };
}

/**
 * The reply to a message, or null. Group messages are for the bot when they
 * start with "/" or mention it (botq's group_mode = "mention_or_prefix");
 * its own messages are never answered. The built-in commands the benchmark
 * uses: /ping → pong, /echo <text> → <text>.
 */
export function replyText(data) {
  if (data.userId === data.selfId) return null;
  const at = `[CQ:at,qq=${data.selfId}]`;
  const mentioned = data.text.includes(at);
  const text = data.text.split(at).join('').trim();
  if (data.kind === 'group' && !mentioned && !text.startsWith('/')) return null;
  return commandReply(text);
}

/** The send action for a reply: URL and JSON body, as botq sends it. */
export function sendAction(apiBase, data, text) {
  const id = (s) => (Number.isSafeInteger(Number(s)) ? Number(s) : s);
  return data.kind === 'group'
    ? { url: `${apiBase}/send_group_msg`, body: { group_id: id(data.chatId), message: text, auto_escape: true } }
    : { url: `${apiBase}/send_private_msg`, body: { user_id: id(data.chatId), message: text, auto_escape: true } };
}
