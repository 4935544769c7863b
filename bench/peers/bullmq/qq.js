// QQ's official bot platform: webhooks in, group and C2C replies out — the
// protocol parts of the peer, kept apart from Fastify and BullMQ so they can
// be tested alone. As botq reads them (QQ's docs, "事件订阅与通知" for the
// signature and "发送消息" for the reply API):
// - the webhook is signed with Ed25519 over `X-Signature-Timestamp || body`,
//   hex in `X-Signature-Ed25519`; the key pair is derived from the bot secret,
//   repeated until it fills the 32-byte seed;
// - a reply is POST /v2/groups/{group_openid}/messages (or
//   /v2/users/{openid}/messages) with `msg_id` (a passive reply) and
//   `msg_seq`, authorised `QQBot <access token>`; the token comes from
//   POST /app/getAppAccessToken {appId, clientSecret}.

import { createPrivateKey, createPublicKey, verify } from 'node:crypto';
import { commandReply } from './commands.js';

// PKCS #8 wrapping of a raw Ed25519 seed (RFC 8410), so node:crypto can load it.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** The public key QQ signs webhooks with, from the bot secret. */
export function publicKeyFromSecret(secret) {
  if (!secret) throw new Error('the QQ bot secret is empty');
  const bytes = Buffer.from(secret, 'utf8');
  const seed = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) seed[i] = bytes[i % bytes.length];
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  return createPublicKey(privateKey);
}

/** Whether `signatureHex` is a valid Ed25519 signature of timestamp || body. */
export function signatureMatches(publicKey, timestamp, rawBody, signatureHex) {
  if (typeof timestamp !== 'string' || !/^\d+$/.test(timestamp)) return false;
  if (typeof signatureHex !== 'string' || !/^[0-9a-fA-F]{128}$/.test(signatureHex)) return false;
  return verify(null, Buffer.concat([Buffer.from(timestamp), rawBody]), publicKey, Buffer.from(signatureHex, 'hex'));
}

export class Rejection extends Error {
  constructor(status, code) {
    super(code);
    this.status = status;
    this.code = code;
  }
}

/**
 * The job for one verified dispatch: `null` for events that are not group
 * @-messages or C2C messages (acknowledged, not queued). Throws a Rejection
 * for malformed bodies. Op 13 (the URL check) is not part of the benchmark.
 */
export function messageJob(rawBody) {
  let payload;
  try {
    payload = JSON.parse(rawBody.toString('utf8'));
  } catch {
    throw new Rejection(400, 'malformed_payload');
  }
  if (payload === null || typeof payload !== 'object' || payload.op !== 0) return null;
  const kind = { GROUP_AT_MESSAGE_CREATE: 'group', C2C_MESSAGE_CREATE: 'c2c' }[payload.t];
  if (kind === undefined) return null;
  const d = payload.d;
  const chatId = kind === 'group' ? d?.group_openid : d?.author?.user_openid;
  if (typeof payload.id !== 'string' || typeof d?.id !== 'string' || typeof chatId !== 'string' || typeof d.content !== 'string') {
    throw new Rejection(400, 'malformed_payload');
  }
  return {
    // botq dedupes on the event id; BullMQ forbids ':' in job ids.
    jobId: `qq-${payload.id.replaceAll(':', '-')}`,
    data: { kind, chatId, messageId: d.id, text: d.content, receivedAtMs: Date.now() },
  };
}

/** The reply to a message, or null: /ping → pong, /echo <text> → <text>. */
export function replyText(data) {
  return commandReply(data.text);
}

/** The send request for reply 1 to a message: URL and JSON body, as botq sends it. */
export function sendRequest(apiBase, data, text) {
  const path = data.kind === 'group' ? 'groups' : 'users';
  return {
    url: `${apiBase}/v2/${path}/${encodeURIComponent(data.chatId)}/messages`,
    body: { content: text, msg_type: 0, msg_id: data.messageId, msg_seq: 1 },
  };
}
