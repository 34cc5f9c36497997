// Your function. hmac-watchdog has already verified the webhook signature when it is called:
// a forged or unsigned request never gets here.
//
// event.body        the raw body (a Buffer), exactly as the sender signed it; event.json()
// event.headers     the request headers, lower-case names (event.headers['x-github-event'])
// event.verifiedBy  the scheme that verified the signature (X-Webhook-Verified: github, ...)
// event.method, event.path, event.query
//
// Return a string/Buffer/object body, or { statusCode, headers, body }.
'use strict';

module.exports = async (event, context) => {
  const kind = event.headers['x-github-event'] || event.headers['x-patreon-event'] || 'unknown';
  // stderr goes to the function's log.
  console.error(`handler: event=${kind} verified=${event.verifiedBy} bytes=${event.body.length}`);
  return {
    statusCode: 200,
    headers: { 'Content-Type': 'text/plain; charset=utf-8' },
    body: Buffer.concat([
      Buffer.from(`event=${kind} verified=${event.verifiedBy}\n`), event.body, Buffer.from('\n'),
    ]),
  };
};
