// Runs at image build time (node --test): calls the handler as index.js would.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const handler = require('./handler');

test('handler answers with the event type and the verifying scheme', async () => {
  const result = await handler({
    body: Buffer.from('{"zen":"hi"}'),
    headers: { 'x-github-event': 'ping', 'x-webhook-verified': 'github' },
    verifiedBy: 'github',
    method: 'POST',
    path: '/',
    query: {},
  }, { env: {} });
  assert.strictEqual(result.statusCode, 200);
  assert.strictEqual(result.body.toString(), 'event=ping verified=github\n{"zen":"hi"}\n');
});
