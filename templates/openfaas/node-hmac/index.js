// The Node side of the node-hmac template: an HTTP server on Node's own http module that
// hmac-watchdog forwards verified requests to, calling function/handler.js for each one.
// It listens on 127.0.0.1 only, at the port of `upstream_url` (default 3000), so the function
// cannot be reached from outside the container without going through the watchdog's check.
'use strict';

const http = require('http');
const handler = require('./function/handler');

function makeEvent(req, body) {
  const url = new URL(req.url, 'http://localhost');
  return {
    body, // a Buffer, exactly as signed by the sender
    headers: req.headers, // lower-case names: event.headers['x-github-event']
    method: req.method,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    // The scheme that verified the signature (github, patreon, ...), set by the watchdog.
    verifiedBy: req.headers['x-webhook-verified'] || '',
    json() {
      return JSON.parse(body.length ? body.toString('utf8') : 'null');
    },
  };
}

function toBuffer(value) {
  if (value === undefined || value === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') return Buffer.from(value);
  return Buffer.from(JSON.stringify(value));
}

async function answer(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  let status = 200;
  let headers = {};
  let out;
  try {
    const result = await handler(makeEvent(req, body), { env: process.env });
    if (result && typeof result === 'object' && !Buffer.isBuffer(result) &&
        ('statusCode' in result || 'body' in result)) {
      status = result.statusCode || 200;
      headers = result.headers || {};
      out = toBuffer(result.body);
    } else {
      out = toBuffer(result);
    }
  } catch (err) { // the handler's bug: a 500 for this request, the server stays up
    console.error(err);
    status = 500;
    headers = { 'Content-Type': 'text/plain' };
    out = Buffer.from('handler failed\n');
  }
  if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
    headers['Content-Type'] = 'text/plain; charset=utf-8';
  }
  headers['Content-Length'] = out.length;
  res.writeHead(status, headers);
  res.end(out);
}

const upstream = new URL(process.env.upstream_url || 'http://127.0.0.1:3000');
const port = Number(upstream.port) || 3000;
const server = http.createServer((req, res) => {
  answer(req, res).catch((err) => {
    console.error(err);
    res.destroy();
  });
});
server.keepAliveTimeout = 65000; // longer than the watchdog's keep-alive to its upstream
server.listen(port, '127.0.0.1', () => {
  console.error(`index.js: listening on 127.0.0.1:${port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
