/**
 * JWT bearer verification for API consumers: asymmetric signatures only (RS*, PS*, ES*), a configured
 * issuer and audience, keys from a JWKS URL (fetched with axios, cached per `kid`, refetched at most once
 * per `jwksCooldownMs` when an unknown `kid` shows up) or from a static PEM public key.
 * Scopes come from the `scope` claim (space separated) or `scp` (array or string).
 */
import crypto, { type KeyObject } from 'node:crypto';
import axios from 'axios';
import jwt, { type Algorithm, type JwtPayload } from 'jsonwebtoken';
import type { Consumer } from './consumers';

export interface JwtConfig {
  issuer: string;
  audience: string | string[];
  jwksUrl?: string;
  /** PEM (SPKI) public key or certificate, used when no JWKS URL is configured. */
  publicKey?: string;
  algorithms?: Algorithm[];
  clockToleranceSec?: number;
  jwksCooldownMs?: number;
  jwksTimeoutMs?: number;
}

export class JwtError extends Error {}

const ASYMMETRIC: Algorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'];

export class JwtVerifier {
  private readonly algorithms: Algorithm[];
  private readonly staticKey?: KeyObject;
  private jwks = new Map<string, KeyObject>();
  private lastFetch = 0;
  private fetching?: Promise<void>;

  constructor(readonly config: JwtConfig) {
    if (!config.issuer) throw new RangeError('JWT issuer is required');
    if (!config.audience || (Array.isArray(config.audience) && !config.audience.length)) throw new RangeError('JWT audience is required');
    if (!config.jwksUrl && !config.publicKey) throw new RangeError('JWT needs a JWKS URL or a public key');
    this.algorithms = (config.algorithms?.length ? config.algorithms : ASYMMETRIC).filter((a) => ASYMMETRIC.includes(a));
    if (!this.algorithms.length) throw new RangeError('JWT algorithms must be asymmetric (RS*, PS*, ES*)');
    if (config.publicKey) this.staticKey = crypto.createPublicKey(config.publicKey);
  }

  /** Verifies a compact JWS; throws JwtError with a short reason (never the token) when it is not acceptable. */
  async verify(token: string): Promise<Consumer & { claims: JwtPayload }> {
    const decoded = jwt.decode(token, { complete: true });
    if (!decoded || typeof decoded.payload === 'string') throw new JwtError('malformed token');
    const key = await this.keyFor(decoded.header.kid);
    let payload: JwtPayload;
    try {
      payload = jwt.verify(token, key, {
        algorithms: this.algorithms,
        issuer: this.config.issuer,
        audience: this.config.audience as string | [string, ...string[]],
        clockTolerance: this.config.clockToleranceSec ?? 30,
      }) as JwtPayload;
    } catch (err) {
      const e = err as Error;
      if (e.name === 'TokenExpiredError') throw new JwtError('token expired');
      if (e.name === 'NotBeforeError') throw new JwtError('token not yet valid');
      throw new JwtError(e.message.replace(/^jwt /, 'token '));
    }
    if (typeof payload.sub !== 'string' || !payload.sub) throw new JwtError('token has no subject (sub)');
    return { id: `jwt:${payload.sub}`, kind: 'jwt', name: typeof payload.client_id === 'string' ? payload.client_id : payload.sub, scopes: scopesOf(payload), claims: payload };
  }

  private async keyFor(kid: string | undefined): Promise<KeyObject> {
    if (!this.config.jwksUrl) return this.staticKey as KeyObject;
    const pick = () => (kid ? this.jwks.get(kid) : this.jwks.size === 1 ? [...this.jwks.values()][0] : undefined);
    let key = pick();
    if (key) return key;
    const cooldown = this.config.jwksCooldownMs ?? 30_000;
    if (this.lastFetch === 0 || Date.now() - this.lastFetch >= cooldown) {
      this.fetching ??= this.fetchJwks().finally(() => (this.fetching = undefined));
      await this.fetching;
      key = pick();
    }
    if (!key) throw new JwtError(kid ? `unknown signing key "${kid}"` : 'token has no key id (kid) and the JWKS has several keys');
    return key;
  }

  private async fetchJwks(): Promise<void> {
    this.lastFetch = Date.now();
    let body: unknown;
    try {
      const res = await axios.get(this.config.jwksUrl as string, { timeout: this.config.jwksTimeoutMs ?? 5000, responseType: 'json', maxContentLength: 1_000_000 });
      body = res.data;
    } catch (err) {
      throw new JwtError(`JWKS unavailable: ${(err as Error).message}`);
    }
    const keys = (body as { keys?: unknown[] })?.keys;
    if (!Array.isArray(keys)) throw new JwtError('JWKS has no "keys" array');
    const next = new Map<string, KeyObject>();
    keys.forEach((jwk, i) => {
      const k = jwk as crypto.JsonWebKey & { kid?: string; use?: string };
      if (k.use && k.use !== 'sig') return;
      if (k.d !== undefined) return; // never accept private key material as a verification key
      try {
        next.set(k.kid ?? `#${i}`, crypto.createPublicKey({ key: k, format: 'jwk' }));
      } catch {
        /* skip unreadable keys */
      }
    });
    this.jwks = next;
  }
}

function scopesOf(p: JwtPayload): string[] {
  const out: string[] = [];
  if (typeof p.scope === 'string') out.push(...p.scope.split(/\s+/));
  if (Array.isArray(p.scp)) out.push(...p.scp.filter((s: unknown): s is string => typeof s === 'string'));
  else if (typeof p.scp === 'string') out.push(...p.scp.split(/\s+/));
  return [...new Set(out.filter(Boolean))];
}
