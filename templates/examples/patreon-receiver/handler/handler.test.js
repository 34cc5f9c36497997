// Runs at image build time (node --test): Patreon member triggers.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const handler = require('./handler');

function event(trigger, attributes) {
  const body = Buffer.from(JSON.stringify({ data: { type: 'member', attributes } }));
  return {
    body,
    headers: { 'x-patreon-event': trigger, 'x-webhook-verified': 'patreon' },
    verifiedBy: 'patreon',
    json: () => JSON.parse(body.toString()),
  };
}

test('a new pledge names the patron and their status', async () => {
  const out = await handler(event('members:pledge:create',
    { full_name: 'Ada', patron_status: 'active_patron' }), {});
  assert.strictEqual(out, 'new patron: Ada (active_patron)\n');
});

test('an unhandled trigger is accepted with 202', async () => {
  const out = await handler(event('posts:publish', {}), {});
  assert.strictEqual(out.statusCode, 202);
});
