/**
 * The embedded aedes broker (docs/store-and-guarantees.md, docs/runtime.md): MQTT over TCP, MQTT over WebSocket on an
 * existing HTTP server, durable persistence, authentication + per-user ACL, size limits, QoS 0 overload
 * protection and stats for /healthz. No Node-RED imports (lib/ rule).
 *
 * Overload model (verified against aedes 1.2 / mqemitter 7.1 sources):
 *  - aedes delivers every message through mqemitter with `concurrency` slots; a delivery holds its slot
 *    until the subscriber's socket accepted the bytes (`drain`), or `drainTimeout` disconnects it.
 *  - aedes reads a publisher's next packets only after the current ones were handed to every subscriber,
 *    so a slow subscriber throttles publishers instead of growing queues (the publisher's TCP window fills).
 *  - QoS 0 shedding (ours, in authorizeForward): a QoS 0 message is not forwarded to a subscriber whose
 *    socket already needs a drain; it is counted in `stats.droppedQos0`. QoS 0 is at-most-once by contract,
 *    so one slow subscriber no longer throttles everyone, and its buffer stays at ~highWaterMark.
 *    QoS 1/2 keep backpressure + persistence (never shed).
 *  - Slow internal clients: the drain timeout is for dead or stuck clients; the runtime's own connections
 *    (BrokerUser.internal) are in this process, so a socket of theirs that does not drain means the runtime is busy
 *    (its reading is paused by the event-loop gate or by commits it waits for), not gone. Disconnecting it turned a
 *    busy runtime into a disconnect / reconnect loop: every reconnect drops the PUBACKs of the commits in flight, so
 *    the broker redelivers the same window again and the runtime re-reads it instead of going forward (bench
 *    scenario 2 on a loaded machine: 572 disconnects of the runtime's connection, stalled at 248,724 of 1,000,000).
 *    For them a drain timeout re-arms instead (counted in `stats.internalDrainWaits`): the broker waits, its
 *    publishers are throttled through the same delivery slots, the backlog stays in the persistence on disk.
 *    Keepalive still closes a dead internal connection.
 *  - aedes 1.2 defers QoS 0 writes with setImmediate (the "Maximum call stack size exceeded" fix discussed
 *    in mqemitter PR 204 / aedes issue 193), so the broker runs in-process; test/overload proves it.
 */
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import fs from 'node:fs';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { guardPacketSize, PacketTooLargeError } from './frame-guard';
import { createLevelPersistence } from './level-persistence';
import { acknowledgeAfterPublish } from './ack-after-publish';
import { RedeliveryTracker, type HeldForRedelivery } from './redelivery';
import type { CoalescingLevel } from './coalescing-level';
import {
  AuthMode,
  BrokerAuthConfig,
  BrokerUser,
  TopicRights,
  checkPassword,
  isLoopback,
  mayPublish,
  maySubscribe,
} from './acl';

export type PersistenceKind = 'level' | 'memory';

export interface BrokerOptions {
  /** TCP listener; `port: 0` picks a free port, `port: false` disables TCP. Default 127.0.0.1:1883. */
  host?: string;
  port?: number | false;
  /** `level` (default): aedes-persistence-level on a classic-level DB in `persistenceDir`; `memory`: aedes-persistence. */
  persistence?: PersistenceKind;
  /** Required for `level`, e.g. `<userDir>/mqtt`. */
  persistenceDir?: string;
  auth?: BrokerAuthConfig;
  authMode?: AuthMode;
  /** Largest MQTT packet accepted (fixed header included). Default 1 MiB. */
  maxPacketBytes?: number;
  /** Default 16 (`fabric/v1/<entity>/<event>` needs 4). aedes clamps to 1..100. */
  maxTopicLevels?: number;
  /** mqemitter concurrency (aedes default 100). */
  concurrency?: number;
  /** Disconnect a subscriber whose socket has not drained for this long. Default 10000 ms. */
  drainTimeoutMs?: number;
  /** Shed QoS 0 for subscribers whose socket needs a drain. Default true. */
  shedQos0?: boolean;
  /** Max inbound QoS 2 awaiting PUBREL per client (aedes default 1000). */
  maxInflightInbound?: number;
  /** Connect packet wait (ms). Default 10000. */
  connectTimeoutMs?: number;
  /** MQTTS listener for on-prem systems, when a certificate is configured. */
  tls?: BrokerTlsOptions;
  id?: string;
  log?: BrokerLogger;
}

export interface BrokerTlsOptions {
  host?: string;
  /** `0` picks a free port. Default 8883. */
  port?: number;
  /** PEM server certificate (chain) and key. */
  cert: string | Buffer;
  key: string | Buffer;
  /** PEM CA bundle: when given, clients must present a certificate it signed (mutual TLS). */
  ca?: string | Buffer;
}

export interface BrokerLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface BrokerStats {
  clients: number;
  /** PUBLISH packets received from clients. */
  messagesIn: number;
  /** PUBLISH deliveries forwarded to subscribers. */
  messagesOut: number;
  droppedQos0: number;
  authFailures: number;
  aclDenied: number;
  oversizeRejected: number;
  slowClientsDisconnected: number;
  /** Drain timeouts of the runtime's own connections, waited through instead of disconnecting (see the header). */
  internalDrainWaits: number;
  clientErrors: number;
}

/** One subscription of a connected client, as `clientSubscriptions` reports it. */
export interface ClientSubscription {
  clientId: string;
  topic: string;
  qos: number;
}

export interface RunningBroker {
  /** The aedes instance: in-process broker only (`startBroker`); undefined for `startBrokerThread`. */
  readonly aedes?: any;
  /** TCP address, when listening. */
  readonly port?: number;
  readonly host?: string;
  /** `mqtt://host:port` of the TCP listener, when listening. */
  readonly url?: string;
  /** `mqtts://host:port` of the TLS listener, when one is configured. */
  readonly tlsUrl?: string;
  readonly persistence: PersistenceKind;
  readonly stats: BrokerStats;
  /** Serves MQTT over WebSocket on `server` at `wsPath` (default `/mqtt`). */
  attachWebSocket(server: http.Server, wsPath?: string): void;
  /**
   * Hands any duplex stream to aedes (tests, in-process clients); treated as loopback unless `meta` says otherwise
   * (the worker-thread variant passes the real transport and remote address of a bridged WebSocket).
   */
  handle(stream: Duplex, meta?: ConnMeta): void;
  /** Adds a user at run time (the runtime's own internal user when auth is `required`). */
  addUser(user: BrokerUser): void;
  /** Resolves once every earlier call (addUser) has taken effect: at once in-process, after a round trip to a worker. */
  sync(): Promise<void>;
  /**
   * The messages this broker holds for the runtime's own sessions and may deliver again, and the inbox ids of the
   * messages it retains (redelivery.ts); undefined when none. lib/retention keeps the inbox entries that may belong to them.
   */
  heldForRedelivery(): Promise<HeldForRedelivery | undefined>;
  /** Subscriptions of the connected clients whose id starts with `clientIdPrefix` (tests, bench: "has the flow subscribed?"). */
  clientSubscriptions(clientIdPrefix: string): Promise<ClientSubscription[]>;
  healthy(): boolean;
  close(): Promise<void>;
}

const ANONYMOUS_DEFAULT: TopicRights = { publish: ['#'], subscribe: ['#'] };
const silentLog: BrokerLogger = { info() {}, warn() {}, error() {} };

export interface ConnMeta {
  remote?: string;
  transport: 'tcp' | 'tls' | 'ws' | 'stream';
}

/**
 * aedes delivers a QoS 1/2 message to a persistent-session client only after `persistence.outgoingEnqueue`
 * resolved, and then drops as a "duplicate" any packet whose brokerCounter is below the highest one already
 * delivered to that client (`dedupe` in aedes/lib/client.js). With the level persistence, concurrent enqueues
 * can complete out of order (LevelDB writes finish on the libuv pool), so a message overtaken by a later one
 * was silently not delivered until the client reconnected (measured: 0.5-1% of QoS 1 messages at a few
 * thousand msg/s, bench scenario 5). Resolving each client's enqueues in call order restores delivery order.
 * The coalescing layer (level-persistence.ts) now also completes writes in call order; this stays so that the
 * delivery order does not depend on that layer's internals.
 */
function orderOutgoingEnqueue(persistence: any): void {
  const tails = new Map<string, Promise<unknown>>();
  const enqueue = persistence.outgoingEnqueue.bind(persistence) as (sub: { clientId: string }, packet: unknown) => Promise<unknown>;
  persistence.outgoingEnqueue = (sub: { clientId: string }, packet: unknown) => {
    const id = sub.clientId;
    const own = enqueue(sub, packet);
    const prev = tails.get(id);
    const ordered = prev ? prev.then(() => own, () => own) : own;
    tails.set(id, ordered);
    const settle = () => {
      if (tails.get(id) === ordered) tails.delete(id);
    };
    ordered.then(settle, settle);
    return ordered;
  };
}

/**
 * A drain timeout of this aedes 1.2 client re-arms instead of disconnecting it (the header, "Slow internal clients").
 * aedes keeps one drain timer per client (`_drainTimer`, fired into `_handleDrainTimeout`); a drain clears it and
 * completes the waiting deliveries, a close clears it and fails them, so only the timeout's own action changes.
 */
function waitThroughDrainTimeouts(client: any, onWait: () => void): void {
  // test/unit/broker/internal-drain.test.ts fails first if an aedes upgrade renames it
  if (typeof client._handleDrainTimeout !== 'function') return;
  client._handleDrainTimeout = function (this: any) {
    onWait();
    const ms = this.broker?.opts?.drainTimeout;
    this._drainTimer = setTimeout(() => this._handleDrainTimeout(), ms);
    this._drainTimer.unref();
  };
}

/**
 * The HTTP `upgrade` listener for MQTT over WebSocket on `wsPath` (both broker variants): hands each connection to
 * `accept` with its real remote address, which the loopback rule of the authentication must see. Other paths are left
 * to other listeners (Node-RED's comms); `available() === false` answers 503 (a broker thread being restarted).
 */
export function mqttOverWebSocket(
  wss: WebSocketServer,
  wsPath: string,
  accept: (stream: Duplex, meta: ConnMeta, req: http.IncomingMessage) => void,
  available: () => boolean = () => true,
): (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void {
  return (req, socket, head) => {
    const pathname = (req.url ?? '').split('?')[0];
    if (pathname !== wsPath) return;
    if (!available()) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const stream = createWebSocketStream(ws);
      stream.on('error', () => {});
      accept(stream, { transport: 'ws', remote: req.socket.remoteAddress }, req);
    });
  };
}

export async function startBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  // aedes 1.x is ESM; `require` of ESM works on Node >= 20.19 (package.json engines).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Aedes } = require('aedes') as { Aedes: any };
  const log = options.log ?? silentLog;
  const persistenceKind: PersistenceKind = options.persistence ?? 'level';
  const authMode: AuthMode = options.authMode ?? 'loopback';
  const users = new Map<string, BrokerUser>();
  for (const u of options.auth?.users ?? []) users.set(u.username, u);
  const anonymous: TopicRights = {
    publish: options.auth?.anonymous?.publish ?? ANONYMOUS_DEFAULT.publish,
    subscribe: options.auth?.anonymous?.subscribe ?? ANONYMOUS_DEFAULT.subscribe,
  };
  const maxPacketBytes = options.maxPacketBytes ?? 1024 * 1024;
  const shedQos0 = options.shedQos0 ?? true;
  const stats: BrokerStats = {
    clients: 0,
    messagesIn: 0,
    messagesOut: 0,
    droppedQos0: 0,
    authFailures: 0,
    aclDenied: 0,
    oversizeRejected: 0,
    slowClientsDisconnected: 0,
    internalDrainWaits: 0,
    clientErrors: 0,
  };

  let persistence: any;
  let db: any;
  let levelDb: CoalescingLevel | undefined;
  if (persistenceKind === 'level') {
    if (!options.persistenceDir) throw new Error('startBroker: persistenceDir is required for level persistence');
    fs.mkdirSync(path.dirname(options.persistenceDir), { recursive: true });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Level } = require('level') as { Level: any };
    db = new Level(options.persistenceDir);
    await db.open();
    ({ persistence, db: levelDb } = createLevelPersistence(db));
    orderOutgoingEnqueue(persistence);
  } else {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const MemoryPersistence = require('aedes-persistence/asyncPersistence.js');
    persistence = new MemoryPersistence();
  }

  const rightsOf = (client: any): TopicRights | undefined => client?.psFabric?.rights;
  // before the aedes instance exists: its counter starts at 0 after this moment (redelivery.ts)
  const startedAt = Date.now();
  let redelivery: RedeliveryTracker | undefined;

  const aedes = await Aedes.createBroker({
    id: options.id,
    persistence,
    concurrency: options.concurrency ?? 100,
    drainTimeout: options.drainTimeoutMs ?? 10000,
    maxTopicLevels: options.maxTopicLevels ?? 16,
    maxInflightInbound: options.maxInflightInbound ?? 1000,
    connectTimeout: options.connectTimeoutMs ?? 10000,
    heartbeatInterval: 60000,
    authenticate(client: any, username: string | undefined, password: Buffer | undefined, done: (err: any, ok: boolean | null) => void) {
      const meta: ConnMeta = client.conn?.psFabricMeta ?? { transport: 'stream' };
      const loopback = meta.transport === 'stream' || isLoopback(meta.remote);
      const refuse = (why: string) => {
        stats.authFailures++;
        log.warn(`mqtt: refused client "${client.id}" from ${meta.remote ?? meta.transport}: ${why}`);
        const err: any = new Error(why);
        err.returnCode = 4; // bad username or password (v5: 0x86)
        done(err, null);
      };
      if (username === undefined || username === '') {
        if (authMode === 'off' || (authMode === 'loopback' && loopback)) {
          client.psFabric = { username: '', rights: anonymous };
          return done(null, true);
        }
        return refuse('credentials required');
      }
      const user = users.get(username);
      if (!user) return refuse('unknown user or wrong password');
      checkPassword(user, password ? password.toString('utf8') : '').then(
        (ok) => {
          if (!ok) return refuse('unknown user or wrong password');
          client.psFabric = { username, rights: { publish: user.publish ?? [], subscribe: user.subscribe ?? [] } };
          if (user.internal) {
            waitThroughDrainTimeouts(client, () => stats.internalDrainWaits++);
            // only a persistent session keeps a queue that can re-send (and only its id is worth recording)
            if (client.clean === false) redelivery?.noteInternal(String(client.id));
          }
          done(null, true);
        },
        (err) => refuse(`password check failed: ${(err as Error).message}`),
      );
    },
    authorizePublish(client: any, packet: any, done: (err?: Error | null) => void) {
      if (!client) return done(null); // broker-internal publish (wills are checked with their client)
      const rights = rightsOf(client);
      if (packet.topic.startsWith('$SYS')) {
        stats.aclDenied++;
        return done(new Error('publishing to $SYS is not allowed'));
      }
      if (!rights || !mayPublish(rights, packet.topic, client.psFabric.username, client.id)) {
        stats.aclDenied++;
        log.warn(`mqtt: client "${client.id}" may not publish to "${packet.topic}"`);
        return done(new Error(`not authorised to publish to ${packet.topic}`));
      }
      stats.messagesIn++;
      done(null);
    },
    authorizeSubscribe(client: any, sub: any, done: (err: Error | null, sub?: any) => void) {
      const rights = rightsOf(client);
      if (!rights || !maySubscribe(rights, sub.topic, client.psFabric.username, client.id)) {
        stats.aclDenied++;
        log.warn(`mqtt: client "${client.id}" may not subscribe to "${sub.topic}"`);
        return done(null, null); // negative SUBACK (0x80) for this filter, connection stays
      }
      done(null, sub);
    },
    authorizeForward(client: any, packet: any) {
      if (shedQos0 && packet.qos === 0 && client.conn?.writableNeedDrain) {
        stats.droppedQos0++;
        return null;
      }
      stats.messagesOut++;
      return packet;
    },
  });

  // a QoS 1 PUBACK only after the message is published, i.e. (level persistence) queued for its persistent
  // subscribers and fsynced: docs/runtime.md, "The broker acknowledges only what it has kept"
  acknowledgeAfterPublish(aedes);
  redelivery = new RedeliveryTracker(aedes, levelDb, startedAt);
  await redelivery.load();

  aedes.on('client', () => {
    stats.clients = aedes.connectedClients;
  });
  aedes.on('clientReady', () => {
    stats.clients = aedes.connectedClients;
  });
  aedes.on('clientDisconnect', () => {
    stats.clients = aedes.connectedClients;
  });
  aedes.on('clientError', (client: any, err: Error) => {
    stats.clientErrors++;
    stats.clients = aedes.connectedClients;
    if (err?.message === 'drain timeout') {
      stats.slowClientsDisconnected++;
      log.warn(`mqtt: disconnected slow client "${client?.id}" (socket did not drain)`);
    }
  });
  aedes.on('connectionError', () => {
    stats.clientErrors++;
  });

  const onOversize = (meta: ConnMeta) => (err: PacketTooLargeError) => {
    stats.oversizeRejected++;
    log.warn(`mqtt: closed ${meta.transport} connection from ${meta.remote ?? '?'}: ${err.message}`);
  };

  const handleConn = (conn: Duplex, meta: ConnMeta, req?: http.IncomingMessage) => {
    (conn as any).psFabricMeta = meta;
    guardPacketSize(conn, maxPacketBytes, onOversize(meta));
    aedes.handle(conn, req);
  };

  const sockets = new Set<net.Socket>();
  let tcpServer: net.Server | undefined;
  let port: number | undefined;
  const host = options.host ?? '127.0.0.1';
  const listenPort = options.port === false ? 0 : options.port ?? 1883;
  if (options.port !== false) {
    tcpServer = net.createServer((socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      handleConn(socket, { remote: socket.remoteAddress, transport: 'tcp' });
    });
    await new Promise<void>((resolve, reject) => {
      tcpServer!.once('error', reject);
      tcpServer!.listen(listenPort, host, () => {
        tcpServer!.off('error', reject);
        resolve();
      });
    });
    port = (tcpServer.address() as net.AddressInfo).port;
    if (authMode === 'loopback' && !isLoopback(host) && users.size === 0) {
      log.warn(`mqtt: listening on ${host} with no users configured: only loopback clients can connect (set FABRIC_MQTT_USERS_FILE)`);
    }
  }

  let tlsServer: tls.Server | undefined;
  let tlsUrl: string | undefined;
  if (options.tls) {
    const t = options.tls;
    tlsServer = tls.createServer({ cert: t.cert, key: t.key, ca: t.ca, requestCert: !!t.ca, rejectUnauthorized: !!t.ca, minVersion: 'TLSv1.2' }, (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      handleConn(socket, { remote: socket.remoteAddress, transport: 'tls' });
    });
    tlsServer.on('tlsClientError', (err) => log.warn(`mqtts: TLS handshake failed: ${err.message}`));
    const tlsHost = t.host ?? host;
    await new Promise<void>((resolve, reject) => {
      tlsServer!.once('error', reject);
      tlsServer!.listen(t.port ?? 8883, tlsHost, () => {
        tlsServer!.off('error', reject);
        resolve();
      });
    });
    tlsUrl = `mqtts://${tlsHost.includes(':') ? `[${tlsHost}]` : tlsHost}:${(tlsServer.address() as net.AddressInfo).port}`;
  }

  const wsServers: WebSocketServer[] = [];
  const upgradeHandlers: Array<{ server: http.Server; handler: (...args: any[]) => void }> = [];

  let closed = false;
  const running: RunningBroker = {
    aedes,
    port,
    host: tcpServer ? host : undefined,
    url: tcpServer ? `mqtt://${host.includes(':') ? `[${host}]` : host}:${port}` : undefined,
    tlsUrl,
    persistence: persistenceKind,
    stats,
    attachWebSocket(server: http.Server, wsPath = '/mqtt') {
      const wss = new WebSocketServer({ noServer: true, maxPayload: maxPacketBytes });
      wsServers.push(wss);
      const handler = mqttOverWebSocket(wss, wsPath, (stream, meta, req) => handleConn(stream, meta, req));
      server.on('upgrade', handler);
      upgradeHandlers.push({ server, handler });
    },
    handle(stream: Duplex, meta?: ConnMeta) {
      handleConn(stream, meta ?? { transport: 'stream', remote: 'in-process' });
    },
    addUser(user: BrokerUser) {
      users.set(user.username, user);
    },
    async sync() {},
    heldForRedelivery() {
      return redelivery!.held();
    },
    async clientSubscriptions(clientIdPrefix: string) {
      const out: ClientSubscription[] = [];
      for (const client of Object.values(aedes.clients as Record<string, any>)) {
        const clientId = String(client.id);
        if (!clientId.startsWith(clientIdPrefix)) continue;
        for (const [topic, sub] of Object.entries((client.subscriptions ?? {}) as Record<string, { qos: number }>)) out.push({ clientId, topic, qos: sub.qos });
      }
      return out;
    },
    healthy() {
      return !closed && !aedes.closed;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const { server, handler } of upgradeHandlers) server.off('upgrade', handler);
      for (const server of [tcpServer, tlsServer]) {
        if (!server) continue;
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const s of sockets) s.destroy();
        });
      }
      for (const wss of wsServers) {
        for (const ws of wss.clients) ws.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      }
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      if (persistence?.destroy) {
        try {
          await persistence.destroy();
        } catch (err) {
          log.error(`mqtt: closing persistence failed: ${(err as Error).message}`);
        }
      }
    },
  };
  return running;
}
