// A real OpenID Connect provider (oidc-provider, a certified implementation) for the
// integration tests: issuer http://127.0.0.1:PORT, one client-credentials client
// (fn-client / fn-secret, the flow of `faas-cli auth --grant client_credentials`) whose
// access tokens are JWTs for the audience "fn", signed with a fresh RS256 key whose kid is
// given on the command line (restart with another kid = key rotation).
//
// Test-only extra: POST /test/sign signs the JSON claims in the body with the same key, so
// the tests can make expired, not-yet-valid, wrong-audience and wrong-issuer tokens that the
// provider itself would never issue.
//
// With TLS_PORT CERT KEY [HOST] the issuer is https://HOST:TLS_PORT (HOST default 127.0.0.1):
// the provider answers there over TLS with that certificate (discovery and JWKS over https),
// and keeps answering on the plain PORT for the tests' own token requests.
//
// Usage: node oidc_server.mjs PORT KID [TLS_PORT CERT KEY [HOST]]
import { generateKeyPairSync, createSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const kid = process.argv[3] || 'k1';
const tlsPort = process.argv[4] ? Number(process.argv[4]) : 0;
const issuer = tlsPort
  ? `https://${process.argv[7] || '127.0.0.1'}:${tlsPort}`
  : `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'fn-client',
    client_secret: 'fn-secret',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    scope: 'read admin',
  }],
  jwks: { keys: [jwk] },
  scopes: ['read', 'admin'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:fn',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'read admin',
        audience: 'fn',
        accessTokenTTL: 300,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
});

const b64url = (s) => Buffer.from(s).toString('base64url');
const callback = provider.callback();
const handler = (req, res) => {
  if (req.method === 'POST' && req.url === '/test/sign') {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const input = `${b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }))}.${b64url(body)}`;
      const sig = createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url');
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`${input}.${sig}`);
    });
    return;
  }
  callback(req, res);
};
const server = (await import('node:http')).createServer(handler);
server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer} kid=${kid}`);
});
if (tlsPort) {
  const options = { cert: readFileSync(process.argv[5]), key: readFileSync(process.argv[6]) };
  (await import('node:https')).createServer(options, handler).listen(tlsPort, '127.0.0.1');
}
process.on('SIGTERM', () => process.exit(0));
