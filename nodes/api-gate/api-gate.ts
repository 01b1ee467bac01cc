/**
 * The `api-gate` node: sits after a core `http in` node and applies lib/governance's ApiGate to the request.
 * Output 1: accepted requests, with `msg.consumer` (who), `msg.api` (route: version, resource, entity, id, verb)
 * and for writes `msg.trackingId`; security and version headers are already set on the response.
 * Output 2: refusals, already answered through `msg.res` (status + `{error, errors}`); the message carries
 * `payload` (the body sent), `statusCode` and `api` (method, path, consumer, reason) for audit and monitoring.
 *
 * Also registers the admin HTTP API on RED.httpAdmin (permission `ps-fabric.admin`):
 *   GET    /ps-fabric/api-keys            list keys (never hashes or secrets)
 *   POST   /ps-fabric/api-keys            {name, scopes[], rateLimit?} -> 201 {key, ...} (the key is shown once)
 *   DELETE /ps-fabric/api-keys/:id        revoke
 *   GET    /ps-fabric/api-scopes          the scopes a key can be given
 *
 * Keys live in the runtime's store (the SQLite file, or PostgreSQL in a scale-out runtime), so every instance on
 * one store shares them; a pre-store `api-consumers.json` is imported once (lib/governance/consumers.ts).
 */
import { ApiGate, globalAuditSink, type GateResult } from '../../lib/governance/api-gate';
import { consumerRegistry, defaultConsumersFile, type ConsumerRegistry, type LegacyImport } from '../../lib/governance/consumers';
import { openStore, type StoreHandle } from '../../lib/store/registry';
import { JwtVerifier } from '../../lib/governance/jwt';
import { allScopes } from '../../lib/governance/resources';
import { applyHeaders, SECURITY_HEADERS } from '../../lib/governance/security';
import { canonicalValidator } from '../../lib/governance/validation';
import { buildOpenApi } from '../../lib/governance/openapi';
import { registerApiReadNodes } from './api-read';
import { registerApiFulfilNode } from './api-fulfil';
import { API_GATE, type ApiGateConfig } from './config';
import { positiveSetting } from '../settings';
import { registerNode, runtimeStoreOptions, type Handler, type Node, type NodeAPI, type NodeMessage, type Request } from '../node-red-api';

/** The dialog's settings, as the template builders name them (templates/node-configs.ts). */
export type { ApiGateConfig };

/** The msg of a core `http in` node. */
interface HttpMessage extends NodeMessage {
  req?: HttpReq;
  res?: { _res?: HttpRes };
}
interface HttpReq {
  method: string;
  originalUrl?: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  params?: Record<string, string>;
  body?: unknown;
  ip?: string;
  user?: { username?: string };
}
interface HttpRes {
  setHeader(name: string, value: string): unknown;
  removeHeader(name: string): unknown;
  status(code: number): HttpRes;
  json(body: unknown): unknown;
  end(): unknown;
  headersSent?: boolean;
}
const announced = new WeakSet<Promise<LegacyImport>>();

/** The store's registry, with the pre-store file `file` imported (once) and the import logged once. */
function registryWithImport(RED: NodeAPI, store: StoreHandle['store'], file: string): ConsumerRegistry {
  const registry = consumerRegistry(store);
  const imported = registry.importLegacyFile(file);
  if (!announced.has(imported)) {
    announced.add(imported);
    imported.then(
      (r) => {
        if (r.imported) RED.log?.info(`ps-fabric: imported ${r.imported} API key(s) from ${r.file} into the store; the file is no longer read and can be removed once every instance runs this version`);
        if (r.skipped) RED.log?.warn(`ps-fabric: ${r.skipped} API key(s) in ${r.file} were not imported because the store already has API keys; issue them again at /ps-fabric/api-keys`);
      },
      (err: Error) => RED.log?.warn(`ps-fabric: API keys not imported: ${err.message}`),
    );
  }
  return registry;
}


module.exports = function (RED: NodeAPI) {
  // companion nodes: reads from the systems of record (api-read) and durable request status (api-requests)
  registerApiReadNodes(RED);
  // the process-layer end of writes (time entries and projects into the PSA, status reports)
  registerApiFulfilNode(RED);
  function ApiGateNode(this: Node, config: ApiGateConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    let gate: ApiGate | undefined;
    let keyStore: StoreHandle | undefined;
    // `${FABRIC_API_JWT_...}` properties whose variable is not set stay literal in Node-RED: treat them as empty
    for (const k of ['jwtIssuer', 'jwtAudience', 'jwksUrl', 'jwtPublicKey'] as const) {
      if (typeof config[k] === 'string' && /^\$\{[^}]*\}$/.test(String(config[k]).trim())) config[k] = '';
    }
    try {
      const jwt = config.jwtIssuer
        ? new JwtVerifier({ issuer: config.jwtIssuer, audience: String(config.jwtAudience ?? '').split(/[\s,]+/).filter(Boolean), jwksUrl: config.jwksUrl || undefined, publicKey: config.jwtPublicKey || undefined })
        : undefined;
      if (config.acceptKeys !== false) keyStore = openStore(runtimeStoreOptions(RED));
      gate = new ApiGate({
        consumers: keyStore ? registryWithImport(RED, keyStore.store, config.consumersFile || defaultConsumersFile(RED.settings.userDir)) : undefined,
        jwt,
        rateLimit: { perSecond: positiveSetting(config.ratePerSecond, API_GATE.defaults.ratePerSecond), burst: positiveSetting(config.rateBurst, API_GATE.defaults.rateBurst) },
        maxBodyBytes: positiveSetting(config.maxBodyBytes, API_GATE.defaults.maxBodyBytes),
        validator: config.validate === false ? undefined : canonicalValidator(),
        publicOpenApi: config.publicOpenApi !== false,
        basePath: config.basePath || API_GATE.defaults.basePath,
      });
      node.status({ fill: 'green', shape: 'dot', text: RED._('api-gate.status.ready') });
    } catch (err) {
      node.status({ fill: 'red', shape: 'ring', text: RED._('api-gate.status.config') });
      node.error(RED._('api-gate.errors.config', { message: (err as Error).message }));
    }
    let openApi: Record<string, unknown> | undefined;
    let accepted = 0;
    let refused = 0;

    node.on('input', (input, send, done) => {
      const msg = input as HttpMessage;
      const req = msg.req;
      const res = msg.res?._res;
      if (!req || !res) {
        done(new Error(RED._('api-gate.errors.no-http')));
        return;
      }
      if (!gate) {
        applyHeaders(res);
        res.status(503).json({ error: 'API gate is not configured' });
        done(new Error(RED._('api-gate.errors.not-configured')));
        return;
      }
      const method = String(req.method).toUpperCase();
      gate
        .check({
          method,
          url: req.originalUrl ?? req.url,
          headers: req.headers,
          body: method === 'GET' || method === 'HEAD' ? undefined : msg.payload,
          params: req.params,
          ip: req.ip,
        })
        .then((r: GateResult) => {
          applyHeaders(res, r.headers);
          if (r.ok && r.route.kind === 'openapi' && config.serveOpenApi !== false) {
            accepted++;
            openApi ??= buildOpenApi();
            res.status(200).json(openApi);
          } else if (r.ok) {
            accepted++;
            msg.consumer = r.consumer;
            msg.api = r.route;
            if (r.route.trackingId) msg.trackingId = r.route.trackingId;
            send([msg, null]);
          } else {
            refused++;
            if (!res.headersSent) res.status(r.status).json(r.body);
            send([
              null,
              {
                _msgid: msg._msgid,
                payload: r.body,
                statusCode: r.status,
                api: { method, path: String(req.originalUrl ?? req.url).split('?')[0].slice(0, 300), consumer: r.consumer?.id, reason: r.body.error, resource: r.route?.resource },
              },
            ]);
          }
          node.status({ fill: 'green', shape: 'dot', text: RED._('api-gate.status.counts', { accepted, refused }) });
          done();
        })
        .catch((err: Error) => {
          if (!res.headersSent) {
            applyHeaders(res);
            res.status(500).json({ error: 'internal error' });
          }
          done(err);
        });
    });
    node.on('close', (_removed, done) => {
      const handle = keyStore;
      keyStore = undefined;
      if (!handle) return done();
      handle.release().then(() => done(), (err: Error) => {
        node.warn(err.message);
        done();
      });
    });
  }
  registerNode(RED, API_GATE.type, ApiGateNode, API_GATE);
  registerAdminApi(RED);
};

function registerAdminApi(RED: NodeAPI): void {
  const admin = RED.httpAdmin;
  if (!admin) return;
  const perm: Handler = RED.auth?.needsPermission ? RED.auth.needsPermission('ps-fabric.admin') : (_req, _res, next) => next?.();
  // A handle per request: the store stays open while an api-gate node or the runtime holds it (then this is a
  // lookup), and is not kept open by the admin API alone.
  const withRegistry = async <T>(fn: (registry: ConsumerRegistry) => Promise<T>): Promise<T> => {
    const handle = openStore(runtimeStoreOptions(RED));
    try {
      return await fn(registryWithImport(RED, handle.store, defaultConsumersFile(RED.settings.userDir)));
    } finally {
      await handle.release();
    }
  };
  const reply = (res: Parameters<Handler>[1], status: number, body?: unknown) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    if (body === undefined) res.status(status).end();
    else res.status(status).json(body);
  };
  const who = (req: Request) => req.user?.username ?? 'admin';
  const audit = (req: Request, action: string, id: string) => {
    RED.log?.info(`ps-fabric: API key ${id} ${action} by ${who(req)}`);
    const sink = globalAuditSink();
    try {
      void sink?.({ at: Date.now(), outcome: 'accepted', method: req.method, path: `/ps-fabric/api-keys/${id}`, consumer: `admin:${who(req)}`, reason: `api-key.${action}`, id });
    } catch {
      /* never break the admin API on audit */
    }
  };

  admin.get('/ps-fabric/api-scopes', perm, (_req, res) => reply(res, 200, { scopes: [...allScopes(), '*:read', '*:write'] }));
  admin.get('/ps-fabric/api-keys', perm, (_req, res) => {
    withRegistry((registry) => registry.list())
      .then((keys) => reply(res, 200, { keys }))
      .catch((err: Error) => reply(res, 500, { error: err.message }));
  });
  admin.post('/ps-fabric/api-keys', perm, (req, res) => {
    const body = (req.body ?? {}) as { name?: string; scopes?: string[]; rateLimit?: { perSecond: number; burst: number } };
    withRegistry((registry) => registry.issue({ name: String(body.name ?? ''), scopes: Array.isArray(body.scopes) ? body.scopes : [], rateLimit: body.rateLimit, createdBy: who(req) }))
      .then(({ key, info }) => {
        audit(req, 'issued', info.id);
        reply(res, 201, { ...info, key, note: 'store this key now: it is not shown again' });
      })
      .catch((err: Error) => reply(res, err instanceof RangeError ? 400 : 500, { error: err.message }));
  });
  admin.delete('/ps-fabric/api-keys/:id', perm, (req, res) => {
    const id = String(req.params?.id ?? '');
    if (!/^[0-9a-f]{12}$/.test(id)) return reply(res, 400, { error: 'invalid key id' });
    withRegistry((registry) => registry.revoke(id, who(req)))
      .then((revoked) => {
        if (!revoked) return reply(res, 404, { error: 'no active key with that id' });
        audit(req, 'revoked', id);
        reply(res, 204);
      })
      .catch((err: Error) => reply(res, 500, { error: err.message }));
  });
}
