// npm test: the QQ protocol helpers, without Redis or a network.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rejection, messageJob, publicKeyFromSecret, replyText, sendRequest, signatureMatches } from '../qq.js';

// The example of QQ's webhook docs ("事件订阅与通知"), as botq's own tests use
// it (crates/botq-core/src/platform/qq/verify.rs): the doc's body re-indented
// by two spaces, with the doc's secret, timestamp and signature.
const SECRET = 'naOC0ocQE3shWLAfffVLB1rhYPG7';
const BODY = Buffer.from('{\n  "op": 0,\n  "d": {},\n  "t": "GATEWAY_EVENT_NAME"\n}');
const TS = '1725442341';
const SIG =
  '865ad13a61752ca65e26bde6676459cd36cf1be609375b37bd62af366e1dc25a' +
  '8dc789ba7f14e017ada3d554c671a911bfdf075ba54835b23391d509579ed002';

test('X-Signature-Ed25519 verifies over timestamp || body with the key derived from the secret', () => {
  const key = publicKeyFromSecret(SECRET);
  assert.ok(signatureMatches(key, TS, BODY, SIG));
  assert.ok(!signatureMatches(key, '1725442342', BODY, SIG));
  assert.ok(!signatureMatches(publicKeyFromSecret('another-secret'), TS, BODY, SIG));
  assert.ok(!signatureMatches(key, TS, Buffer.concat([BODY, Buffer.from(' ')]), SIG));
  for (const bad of [undefined, '', SIG.slice(2), 'zz'.repeat(64)]) assert.ok(!signatureMatches(key, TS, BODY, bad));
  for (const ts of [undefined, '', '-1', '1e9']) assert.ok(!signatureMatches(key, ts, BODY, SIG));
});

const dispatch = (t, d) => Buffer.from(JSON.stringify({ op: 0, id: `${t}:evt-1`, t, d }));

test('a group @-message becomes a job keyed by its event id, and its reply a passive group reply', () => {
  const job = messageJob(
    dispatch('GROUP_AT_MESSAGE_CREATE', {
      id: 'msg-1',
      content: ' /echo hi there',
      group_openid: 'G1',
      author: { member_openid: 'M1' },
    }),
  );
  assert.equal(job.jobId, 'qq-GROUP_AT_MESSAGE_CREATE-evt-1');
  assert.equal(replyText(job.data), 'hi there');
  assert.deepEqual(sendRequest('http://api', job.data, 'pong'), {
    url: 'http://api/v2/groups/G1/messages',
    body: { content: 'pong', msg_type: 0, msg_id: 'msg-1', msg_seq: 1 },
  });
});

test('a C2C message is answered in the user chat; other events and ops are not queued', () => {
  const job = messageJob(dispatch('C2C_MESSAGE_CREATE', { id: 'm2', content: '/ping', author: { user_openid: 'U1' } }));
  assert.equal(replyText(job.data), 'pong');
  assert.equal(sendRequest('http://api', job.data, 'pong').url, 'http://api/v2/users/U1/messages');
  assert.equal(messageJob(dispatch('GROUP_ADD_ROBOT', { group_openid: 'G1' })), null);
  assert.equal(messageJob(Buffer.from('{"op":13,"d":{"plain_token":"x","event_ts":"1"}}')), null);
});

test('malformed dispatches are refused with 400', () => {
  for (const raw of ['not json', JSON.stringify({ op: 0, id: 'x', t: 'GROUP_AT_MESSAGE_CREATE', d: {} })]) {
    assert.throws(() => messageJob(Buffer.from(raw)), (e) => e instanceof Rejection && e.status === 400);
  }
});
