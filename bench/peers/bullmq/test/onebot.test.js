// npm test: the protocol helpers, without Redis or a network.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rejection, messageJob, replyText, sendAction, signatureMatches } from '../onebot.js';

const SECRET = 'bench-onebot-secret';

test('X-Signature is HMAC-SHA1 of the raw body, hex in either case', () => {
  const body = Buffer.from('{"self_id":10001000,"message_id":1}');
  // printf %s "$body" | openssl dgst -sha1 -hmac bench-onebot-secret
  const hex = '4552efe73e6dde272581d4a91ef2ea4679b656ec';
  assert.ok(signatureMatches(SECRET, body, `sha1=${hex}`));
  assert.ok(signatureMatches(SECRET, body, `sha1=${hex.toUpperCase()}`));
  assert.ok(!signatureMatches('other-secret', body, `sha1=${hex}`));
  assert.ok(!signatureMatches(SECRET, Buffer.from('{"self_id":10001000,"message_id":2}'), `sha1=${hex}`));
  for (const bad of [undefined, '', hex, `sha256=${hex}`, `sha1=${hex.slice(2)}`, `sha1=${'zz'.repeat(20)}`]) {
    assert.ok(!signatureMatches(SECRET, body, bad), String(bad));
  }
});

const report = (fields) =>
  Buffer.from(
    `{"time":1790000000,"self_id":10001000,"post_type":"message","message_type":"group","sub_type":"normal",` +
      `"message_id":${fields.messageId ?? 7},"group_id":700000001,"user_id":800000002,"anonymous":null,` +
      `"message":"${fields.text ?? '/ping'}","raw_message":"${fields.text ?? '/ping'}","font":0,` +
      `"sender":{"user_id":800000002,"nickname":"n","card":"","role":"member"}}`,
  );

test('a group message becomes a job keyed like botq dedupes it', () => {
  const job = messageJob(report({}), '10001000');
  assert.equal(job.jobId, 'onebot-10001000-7-1790000000');
  assert.equal(job.data.chatId, '700000001');
  assert.equal(job.data.text, '/ping');
});

test('int64 message ids past 2^53 keep every digit', () => {
  const a = messageJob(report({ messageId: '1790000000123456789' }), '10001000');
  const b = messageJob(report({ messageId: '1790000000123456790' }), '10001000');
  assert.equal(a.data.messageId, '1790000000123456789');
  assert.notEqual(a.jobId, b.jobId);
});

test('reports for another account and malformed bodies are refused', () => {
  assert.throws(() => messageJob(report({}), '999'), (e) => e instanceof Rejection && e.status === 403);
  assert.throws(() => messageJob(Buffer.from('{not json'), '1'), (e) => e instanceof Rejection && e.status === 400);
  const meta = Buffer.from('{"time":1,"self_id":1,"post_type":"meta_event","meta_event_type":"heartbeat"}');
  assert.equal(messageJob(meta, '1'), null);
});

test('/ping gets pong, /echo its text, chatter in groups nothing', () => {
  const data = (text, kind = 'group') => ({ selfId: '1', userId: '2', kind, chatId: '3', text });
  assert.equal(replyText(data('/ping')), 'pong');
  assert.equal(replyText(data('[CQ:at,qq=1] /ping')), 'pong');
  assert.equal(replyText(data('/echo botq fair 1 2')), 'botq fair 1 2');
  assert.equal(replyText(data('hello')), null);
  assert.equal(replyText({ ...data('/ping'), userId: '1' }), null, "the bot's own message");
  assert.deepEqual(sendAction('http://x/onebot', data('/ping'), 'pong'), {
    url: 'http://x/onebot/send_group_msg',
    body: { group_id: 3, message: 'pong', auto_escape: true },
  });
});
