/**
 * The embedded broker in a worker thread (docs/runtime.md, "Broker in a worker thread").
 *
 * Why: under load the runtime is CPU-bound on its main thread, and about 15% of that thread was the broker
 * (aedes, packet parsing, the level persistence). In a Worker the broker uses another core, and a busy flow no
 * longer stalls MQTT (nor MQTT the flows). The in-runtime clients already connect over TCP to `url`, so they do
 * not notice; WebSocket connections are accepted on the main thread (the HTTP server lives there) and their bytes
 * are bridged to the worker over a MessageChannel (port-stream.ts) with their real remote address.
 *
 * The worker runs `startBroker` (broker.ts) unchanged; this side mirrors its stats for /healthz, forwards its log
 * lines, and restarts it with backoff if it dies (same port, same persistence: persistent sessions survive).
 */
import type http from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { WebSocketServer } from 'ws';
import type { BrokerUser } from './acl';
import { mqttOverWebSocket, type BrokerLogger, type BrokerOptions, type BrokerStats, type ClientSubscription, type ConnMeta, type PersistenceKind, type RunningBroker } from './broker';
import { joinStreams, messagePortStream } from './port-stream';
import type { HeldForRedelivery } from './redelivery';

/** Messages main -> worker. */
export type ToWorker =
  | { type: 'conn'; port: MessagePort; meta: ConnMeta }
  | { type: 'addUser'; user: BrokerUser }
  | { type: 'request'; id: number; what: 'sync' | 'subscriptions' | 'held'; prefix?: string }
  | { type: 'close' }
  | { type: 'crash' };

/** Messages worker -> main. */
export type FromWorker =
  | { type: 'ready'; port?: number; host?: string; url?: string; tlsUrl?: string; persistence: PersistenceKind; stats: BrokerStats; healthy: boolean }
  | { type: 'startError'; message: string }
  | { type: 'log'; level: keyof BrokerLogger; msg: string }
  | { type: 'stats'; stats: BrokerStats; healthy: boolean }
  | { type: 'reply'; id: number; value?: unknown; error?: string };

/** What the worker gets as workerData: the broker options without `log` (a function cannot cross threads). */
export type WorkerBrokerOptions = Omit<BrokerOptions, 'log'>;

export interface ThreadedBroker extends RunningBroker {
  /** Thread id of the current worker (undefined while it is being restarted). */
  readonly threadId: number | undefined;
  /** Test-only: makes the worker throw an uncaught error, as a broker bug would. */
  crashWorkerForTest(): void;
}

const WORKER_SCRIPT = path.join(__dirname, 'broker-thread-worker.js');
const CLOSE_TIMEOUT_MS = 10000;
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30000;
/** A worker that ran this long before dying counts as a fresh failure: the backoff starts again at 1 s. */
const STABLE_AFTER_MS = 60000;

const silentLog: BrokerLogger = { info() {}, warn() {}, error() {} };
const COUNTERS = ['messagesIn', 'messagesOut', 'droppedQos0', 'authFailures', 'aclDenied', 'oversizeRejected', 'slowClientsDisconnected', 'internalDrainWaits', 'clientErrors'] as const;

function zeroStats(): BrokerStats {
  return { clients: 0, messagesIn: 0, messagesOut: 0, droppedQos0: 0, authFailures: 0, aclDenied: 0, oversizeRejected: 0, slowClientsDisconnected: 0, internalDrainWaits: 0, clientErrors: 0 };
}

function portOf(url: string | undefined): number | undefined {
  const m = url ? /:(\d+)$/.exec(url) : null;
  return m ? Number(m[1]) : undefined;
}

interface LiveWorker {
  worker: Worker;
  ready: boolean;
  healthy: boolean;
  startedAt: number;
  pending: Map<number, { resolve(v: unknown): void; reject(e: Error): void }>;
  exited: Promise<number>;
}

export async function startBrokerThread(options: BrokerOptions = {}): Promise<ThreadedBroker> {
  const log = options.log ?? silentLog;
  const { log: _log, ...base } = options;
  const maxPacketBytes = options.maxPacketBytes ?? 1024 * 1024;
  // users added at run time go to every later worker too, so a restarted broker still knows the runtime's own user
  const addedUsers: BrokerUser[] = [];
  // counters stay monotonic across restarts: a new worker's stats add to what the dead one had counted
  const stats = zeroStats();
  let carried = zeroStats();
  let current: LiveWorker | undefined;
  let closed = false;
  let restartTimer: NodeJS.Timeout | undefined;
  let restartDelay = RESTART_MIN_MS;
  let nextRequestId = 1;
  let listen: { port?: number | false; tlsPort?: number } = {};

  const applyStats = (s: BrokerStats) => {
    stats.clients = s.clients;
    for (const k of COUNTERS) stats[k] = carried[k] + s[k];
  };

  const workerOptions = (): WorkerBrokerOptions => {
    const users = [...(base.auth?.users ?? []), ...addedUsers];
    const o: WorkerBrokerOptions = { ...base, auth: { ...base.auth, users } };
    if (listen.port !== undefined) o.port = listen.port;
    if (o.tls && listen.tlsPort !== undefined) o.tls = { ...o.tls, port: listen.tlsPort };
    return o;
  };

  /** Starts a worker and resolves once its broker listens; rejects with the worker's error after it has exited. */
  const spawn = (): Promise<{ live: LiveWorker; ready: Extract<FromWorker, { type: 'ready' }> }> =>
    new Promise((resolve, reject) => {
      const worker = new Worker(WORKER_SCRIPT, { workerData: { options: workerOptions() } });
      let exit!: (code: number) => void;
      const live: LiveWorker = { worker, ready: false, healthy: false, startedAt: Date.now(), pending: new Map(), exited: new Promise((r) => (exit = r)) };
      current = live;
      let startError: string | undefined;
      worker.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'ready':
            live.ready = true;
            live.healthy = m.healthy;
            applyStats(m.stats);
            resolve({ live, ready: m });
            break;
          case 'startError':
            startError = m.message;
            break;
          case 'log':
            log[m.level](m.msg);
            break;
          case 'stats':
            if (current === live) {
              live.healthy = m.healthy;
              applyStats(m.stats);
            }
            break;
          case 'reply': {
            const p = live.pending.get(m.id);
            live.pending.delete(m.id);
            if (m.error !== undefined) p?.reject(new Error(m.error));
            else p?.resolve(m.value);
            break;
          }
        }
      });
      worker.on('error', (err) => {
        if (!live.ready) startError ??= err.message;
        else log.error(`mqtt: broker worker thread failed: ${err.stack ?? err.message}`);
      });
      worker.on('exit', (code) => {
        for (const p of live.pending.values()) p.reject(new Error('the broker worker thread stopped'));
        live.pending.clear();
        exit(code);
        if (current === live) current = undefined;
        if (!live.ready) {
          reject(new Error(`the broker worker thread did not start: ${startError ?? `it exited with code ${code}`}`));
          return;
        }
        if (closed) return;
        carried = { ...stats, clients: 0 };
        stats.clients = 0;
        if (Date.now() - live.startedAt >= STABLE_AFTER_MS) restartDelay = RESTART_MIN_MS;
        log.error(`mqtt: the broker worker thread stopped unexpectedly (exit code ${code}); restarting it in ${restartDelay / 1000} s`);
        scheduleRestart();
      });
    });

  const scheduleRestart = () => {
    const delay = restartDelay;
    restartDelay = Math.min(restartDelay * 2, RESTART_MAX_MS);
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (closed) return;
      spawn().then(
        ({ ready }) => {
          if (closed) return;
          log.info(`mqtt: broker worker thread restarted (${ready.url ?? 'no TCP listener'})`);
        },
        (err: Error) => {
          if (closed) return;
          log.error(`mqtt: ${err.message}; next attempt in ${restartDelay / 1000} s`);
          scheduleRestart();
        },
      );
    }, delay);
  };

  const post = (m: ToWorker, transfer?: any[]) => {
    const live = current;
    if (!live?.ready) return false;
    live.worker.postMessage(m, transfer);
    return true;
  };

  const request = <T>(what: 'sync' | 'subscriptions' | 'held', prefix?: string): Promise<T> => {
    const live = current;
    if (!live?.ready) return Promise.reject(new Error('the broker worker thread is not running (restarting)'));
    const id = nextRequestId++;
    return new Promise<T>((resolve, reject) => {
      live.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      live.worker.postMessage({ type: 'request', id, what, prefix } satisfies ToWorker);
    });
  };

  /** Hands a connection accepted on this thread to the broker in the worker; refused while it restarts. */
  const bridge = (stream: Duplex, meta: ConnMeta) => {
    if (!current?.ready) {
      stream.destroy();
      return;
    }
    const { port1, port2 } = new MessageChannel();
    joinStreams(stream, messagePortStream(port1));
    post({ type: 'conn', port: port2, meta }, [port2]);
  };

  const { ready } = await spawn();
  listen = { port: options.port === false ? false : ready.port, tlsPort: portOf(ready.tlsUrl) };

  const wsServers: WebSocketServer[] = [];
  const upgradeHandlers: Array<{ server: http.Server; handler: (...args: any[]) => void }> = [];

  const running: ThreadedBroker = {
    port: ready.port,
    host: ready.host,
    url: ready.url,
    tlsUrl: ready.tlsUrl,
    persistence: ready.persistence,
    stats,
    get threadId() {
      return current?.ready ? current.worker.threadId : undefined;
    },
    attachWebSocket(server: http.Server, wsPath = '/mqtt') {
      const wss = new WebSocketServer({ noServer: true, maxPayload: maxPacketBytes });
      wsServers.push(wss);
      const handler = mqttOverWebSocket(wss, wsPath, (stream, meta) => bridge(stream, meta), () => !!current?.ready);
      server.on('upgrade', handler);
      upgradeHandlers.push({ server, handler });
    },
    handle(stream: Duplex, meta?: ConnMeta) {
      bridge(stream, meta ?? { transport: 'stream', remote: 'in-process' });
    },
    addUser(user: BrokerUser) {
      addedUsers.push(user);
      post({ type: 'addUser', user });
    },
    async sync() {
      if (current?.ready) await request('sync');
    },
    clientSubscriptions(clientIdPrefix: string) {
      return request<ClientSubscription[]>('subscriptions', clientIdPrefix);
    },
    heldForRedelivery() {
      // rejects while the worker restarts: the caller (retention) then keeps every inbox entry this run
      return request<HeldForRedelivery | undefined>('held');
    },
    healthy() {
      return !closed && !!current?.ready && current.healthy;
    },
    crashWorkerForTest() {
      post({ type: 'crash' });
    },
    async close() {
      if (closed) return;
      closed = true;
      if (restartTimer) clearTimeout(restartTimer);
      for (const { server, handler } of upgradeHandlers) server.off('upgrade', handler);
      for (const wss of wsServers) {
        for (const ws of wss.clients) ws.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      }
      const live = current;
      if (!live) return;
      if (!live.ready) {
        // still opening (a restart in progress): nothing was written yet
        await live.worker.terminate();
        return;
      }
      // the worker closes the broker (the level persistence flushes its queued writes on close) and exits
      live.worker.postMessage({ type: 'close' } satisfies ToWorker);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        live.exited.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), CLOSE_TIMEOUT_MS))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        log.error(`mqtt: the broker worker thread did not exit within ${CLOSE_TIMEOUT_MS / 1000} s of closing; terminating it`);
        await live.worker.terminate();
      }
    },
  };
  return running;
}
