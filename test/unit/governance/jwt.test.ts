import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import jwt from 'jsonwebtoken';
import { JwtError, JwtVerifier } from '../../../lib/governance/jwt';

const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ISS = 'https://idp.example/';
const AUD = 'ps-fabric-api';

function sign(claims: object, opts: jwt.SignOptions = {}, key: crypto.KeyObject = privateKey): string {
  return jwt.sign({ sub: 'portal-client', scope: 'projects:read timeentries:write', ...claims }, key, { algorithm: 'RS256', issuer: ISS, audience: AUD, expiresIn: 300, keyid: 'k1', ...opts });
}

describe('governance: JWT bearer verification', () => {
  let server: http.Server;
  let jwksUrl: string;
  let fetches = 0;
  before(async () => {
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'RS256' };
    server = http.createServer((_req, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('accepts a valid token from the JWKS and reads its scopes', async () => {
    const v = new JwtVerifier({ issuer: ISS, audience: AUD, jwksUrl });
    const c = await v.verify(sign({}));
    assert.equal(c.id, 'jwt:portal-client');
    assert.deepEqual(c.scopes, ['projects:read', 'timeentries:write']);
    await v.verify(sign({ scp: ['invoices:read'], scope: undefined }));
    assert.equal(fetches, 1, 'JWKS fetched once and cached');
  });

  it('accepts a valid token with a static PEM public key', async () => {
    const v = new JwtVerifier({ issuer: ISS, audience: AUD, publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string });
    assert.equal((await v.verify(sign({}))).kind, 'jwt');
  });

  it('refuses expired, wrong-audience, wrong-issuer, wrong-signature, unknown-kid and alg=none tokens', async () => {
    const v = new JwtVerifier({ issuer: ISS, audience: AUD, jwksUrl, clockToleranceSec: 0, jwksCooldownMs: 60_000 });
    const expired = jwt.sign({ sub: 'portal-client', exp: Math.floor(Date.now() / 1000) - 60 }, privateKey, { algorithm: 'RS256', issuer: ISS, audience: AUD, keyid: 'k1' });
    await assert.rejects(v.verify(expired), (e: unknown) => e instanceof JwtError && /expired/.test((e as Error).message));
    await assert.rejects(v.verify(sign({}, { audience: 'someone-else' })), (e: unknown) => e instanceof JwtError && /audience/.test((e as Error).message));
    await assert.rejects(v.verify(sign({}, { issuer: 'https://evil.example/' })), /issuer/);
    await assert.rejects(v.verify(sign({}, {}, other.privateKey)), /signature/);
    await assert.rejects(v.verify(sign({}, { keyid: 'k2' }, other.privateKey)), /unknown signing key "k2"/);
    const none = jwt.sign({ sub: 'x', iss: ISS, aud: AUD }, '', { algorithm: 'none' });
    await assert.rejects(v.verify(none));
    const hs = jwt.sign({ sub: 'x', iss: ISS, aud: AUD }, 'shared', { algorithm: 'HS256', keyid: 'k1' });
    await assert.rejects(v.verify(hs));
    await assert.rejects(v.verify('garbage'), /malformed/);
  });

  it('needs issuer, audience and a key source', () => {
    assert.throws(() => new JwtVerifier({ issuer: '', audience: AUD, jwksUrl: 'x' }), /issuer/);
    assert.throws(() => new JwtVerifier({ issuer: ISS, audience: AUD }), /JWKS URL or a public key/);
    assert.throws(() => new JwtVerifier({ issuer: ISS, audience: AUD, jwksUrl: 'x', algorithms: ['HS256'] }), /asymmetric/);
  });
});
