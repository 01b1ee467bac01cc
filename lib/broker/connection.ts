/**
 * One mqtt.js client shared by every user of a `fabric-broker` config node (no Node-RED imports).
 *
 * Acknowledge-after-commit: mqtt.js v5 sends PUBACK (QoS 1) / PUBCOMP (QoS 2) only after `handleMessage`'s
 * callback. This class overrides `handleMessage` to run the handlers of every matching subscription
 * (e.g. an inbox commit) and calls back only when all of them resolved. A handler that rejects leaves the
 * message unacknowledged and the connection is recycled, so the broker redelivers it (persistent session).
 * QoS 1 messages are pipelined (up to `maxUnacked` awaiting their commit, PUBACKs in order); beyond that a slow
 * handler is backpressure, not a queue.
 *
 * A message that arrives before any matching handler is registered (a redeploy in progress, queued messages
 * delivered right at connect) is held, not acknowledged, for up to `orphanTimeoutMs`; after that it is
 * acknowledged and reported through the `orphan` event (nobody subscribes to it any more).
 */
import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { topicMatches, stripShare } from './acl';
import { sharedEventLoopGate, type EventLoopGate } from './event-loop-gate';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'error' | 'closed';

export interface ConnectionOptions {
  url: string;
  clientId: string;
  /** false (default): persistent session, so QoS 1/2 messages wait at the broker while we are away. */
  clean?: boolean;
  username?: string;
  password?: string;
  protocolVersion?: 4 | 5;
  keepalive?: number;
  reconnectPeriodMs?: number;
  /** Subscribe as `$share/<group>/<filter>` (scale-out across runtime instances). */
  sharedGroup?: string;
  orphanTimeoutMs?: number;
  /** Delay before connecting, so every user registers first (default 0: next tick). */
  connectDelayMs?: number;
  /** QoS 1 messages dispatched but not yet acknowledged (their commits are grouped). Default 256. */
  maxUnacked?: number;
  /**
   * Stop reading packets while this process' event loop is overloaded (event-loop-gate.ts). Default: the
   * process-wide gate (FABRIC_MQTT_MAX_LOOP_DELAY_MS, 50 ms); null: never pause.
   */
  loopGate?: EventLoopGate | null;
}

export type MessageHandler = (packet: IPublishPacket) => Promise<void>;

interface Subscription {
  owner: string;
  filter: string;
  qos: 0 | 1 | 2;
  handler: MessageHandler;
}

export class FabricMqttConnection extends EventEmitter {
  private client: MqttClient | undefined;
  private readonly subs = new Map<string, Subscription>();
  private waiting: Array<{ packet: IPublishPacket; resolve(): void; timer: NodeJS.Timeout }> = [];
  private connectTimer: NodeJS.Timeout | undefined;
  private readonly loopGate: EventLoopGate | undefined;
  private releaseLoopGate: (() => void) | undefined;
  state: ConnectionState = 'connecting';
  lastError: string | undefined;
  closed = false;

  constructor(readonly options: ConnectionOptions) {
    super();
    this.loopGate = options.loopGate === null ? undefined : options.loopGate ?? sharedEventLoopGate();
    this.connectTimer = setTimeout(() => this.connect(), options.connectDelayMs ?? 0);
  }

  private setState(state: ConnectionState, error?: string): void {
    this.state = state;
    if (error !== undefined) this.lastError = error;
    this.emit('status', state, error);
  }

  private wireFilter(filter: string): string {
    return this.options.sharedGroup ? `$share/${this.options.sharedGroup}/${filter}` : filter;
  }

  private connect(): void {
    this.connectTimer = undefined;
    if (this.closed) return;
    const o = this.options;
    const opts: IClientOptions = {
      clientId: o.clientId,
      clean: o.clean ?? false,
      username: o.username || undefined,
      password: o.password || undefined,
      protocolVersion: o.protocolVersion ?? 4,
      keepalive: o.keepalive ?? 60,
      reconnectPeriod: o.reconnectPeriodMs ?? 2000,
      connectTimeout: 10000,
      resubscribe: true,
    };
    if (opts.protocolVersion === 5 && !(o.clean ?? false)) opts.properties = { sessionExpiryInterval: 0xffffffff };
    const client = mqtt.connect(o.url, opts);
    this.client = client;
    this.releaseLoopGate = this.loopGate?.use();
    // the next packet is read once `next` runs: now, or when the event loop has caught up (backpressure to the broker)
    const gate = this.loopGate;
    const readNext = (next: () => void) => (gate ? gate.pass(next) : next());
    // QoS 1 is pipelined: mqtt.js handles one incoming packet at a time and sends the PUBACK from inside
    // handleMessage's callback, so waiting there for the commit would admit one message per commit window
    // (measured: ~115 msg/s, bench scenario 1). Instead up to `maxUnacked` messages are dispatched at once
    // (so the inbox groups their commits), and each PUBACK is held back until its own commit and every
    // earlier PUBACK went out (PUBACKs in PUBLISH order, MQTT-4.6.0-2). Still: no PUBACK before the commit.
    const maxUnacked = Math.max(1, o.maxUnacked ?? 256);
    const held = new Map<number, Promise<void>>();
    let uncommitted = 0;
    let ackChain: Promise<unknown> = Promise.resolve();
    let failed = false;
    const fail = (err: Error, packet: IPublishPacket) => {
      this.emit('handlerError', err, packet);
      if (failed) return;
      failed = true;
      // no ack was sent for it (nor for anything after it): drop the connection so the broker redelivers
      setTimeout(() => client.stream?.destroy(), 200);
    };
    client.on('connect', () => {
      failed = false;
    });
    const sendPacket = (client as any)._sendPacket.bind(client);
    (client as any)._sendPacket = (packet: any, cb?: (...a: any[]) => void, ...rest: any[]) => {
      const commit = packet?.cmd === 'puback' ? held.get(packet.messageId) : undefined;
      if (!commit) return sendPacket(packet, cb, ...rest);
      held.delete(packet.messageId);
      const stream = client.stream;
      ackChain = Promise.all([ackChain, commit]).then(
        () => {
          if (!failed && client.stream === stream) sendPacket(packet);
        },
        () => undefined,
      );
      cb?.(); // let mqtt.js read the next packet now; the PUBACK follows the commit
    };
    client.handleMessage = (packet, callback) => {
      if (packet.qos !== 1 || packet.messageId === undefined) {
        this.dispatch(packet).then(
          () => readNext(() => callback()),
          (err: Error) => {
            fail(err, packet);
            callback(err);
          },
        );
        return;
      }
      const committed = this.dispatch(packet);
      committed.catch((err: Error) => fail(err, packet));
      held.set(packet.messageId, committed);
      uncommitted += 1;
      const settled = () => {
        uncommitted -= 1;
      };
      committed.then(settled, settled);
      // bounded: with `maxUnacked` commits pending, the next packet is read only when this one is committed
      // (`held` cannot tell: its entry goes as soon as mqtt.js hands over the PUBACK, which then waits for the commit)
      if (uncommitted >= maxUnacked) committed.then(() => readNext(() => callback()), () => callback());
      else readNext(() => callback());
    };
    client.on('connect', () => {
      this.setState('connected', '');
      // Always (re)send the current subscriptions: a clean start or a broker that lost our session needs them, and
      // with a persistent session the broker only knows the filters of the previous run — a topic changed while we
      // were away (a new flow, an edited node reconnecting with the same client id) would never be subscribed.
      // Re-subscribing an existing filter is harmless (the broker replaces it; queued messages are kept).
      for (const s of this.subs.values()) this.sendSubscribe(s);
    });
    client.on('reconnect', () => this.setState('reconnecting'));
    client.on('offline', () => this.setState('offline'));
    client.on('close', () => {
      if (!this.closed && this.state === 'connected') this.setState('reconnecting');
    });
    client.on('error', (err) => this.setState('error', err.message));
  }

  private sendSubscribe(s: Subscription): void {
    const client = this.client;
    if (!client?.connected) return; // subscribed on connect
    client.subscribe(this.wireFilter(s.filter), { qos: s.qos }, (err, granted) => {
      const refused = granted?.find((g) => (g.qos & 0x80) !== 0);
      if (err || refused) this.emit('subscribeError', s.owner, s.filter, err?.message ?? `broker refused subscription to ${s.filter}`);
    });
  }

  /** Registers a handler; messages on `filter` are acknowledged only after it resolves. */
  subscribe(owner: string, filter: string, qos: 0 | 1 | 2, handler: MessageHandler): void {
    const s: Subscription = { owner, filter, qos, handler };
    this.subs.set(owner, s);
    this.sendSubscribe(s);
    // messages held for lack of a handler may be this one's
    for (const w of this.waiting.slice()) if (topicMatches(filter, w.packet.topic)) w.resolve();
  }

  /**
   * Removes a handler. With `removed` (the node was deleted, not just redeployed) the broker subscription
   * goes too, unless another handler still uses the same filter.
   */
  unsubscribe(owner: string, removed: boolean): void {
    const s = this.subs.get(owner);
    if (!s) return;
    this.subs.delete(owner);
    const stillUsed = [...this.subs.values()].some((o) => o.filter === s.filter);
    if (removed && !stillUsed && this.client?.connected) this.client.unsubscribe(this.wireFilter(s.filter));
  }

  private matching(topic: string): Subscription[] {
    return [...this.subs.values()].filter((s) => topicMatches(stripShare(s.filter), topic));
  }

  private async dispatch(packet: IPublishPacket): Promise<void> {
    let targets = this.matching(packet.topic);
    if (targets.length === 0) {
      const registered = await new Promise<boolean>((resolve) => {
        const entry = {
          packet,
          resolve: () => {
            clearTimeout(entry.timer);
            this.waiting = this.waiting.filter((w) => w !== entry);
            resolve(true);
          },
          timer: setTimeout(() => {
            this.waiting = this.waiting.filter((w) => w !== entry);
            resolve(false);
          }, this.options.orphanTimeoutMs ?? 30000),
        };
        this.waiting.push(entry);
      });
      targets = this.matching(packet.topic);
      if (!registered || targets.length === 0) {
        this.emit('orphan', packet.topic);
        return;
      }
    }
    await Promise.all(targets.map((s) => s.handler(packet)));
  }

  /** `userProperties` (e.g. the W3C trace context) are sent on an MQTT v5 connection; MQTT 3.1.1 has no properties. */
  async publish(topic: string, payload: Buffer | string, opts: { qos: 0 | 1 | 2; retain: boolean; userProperties?: Record<string, string> }): Promise<void> {
    const client = this.client;
    if (!client || this.closed) throw new Error('MQTT connection is closed');
    const properties = opts.userProperties && this.options.protocolVersion === 5 ? { properties: { userProperties: opts.userProperties } } : {};
    await client.publishAsync(topic, payload, { qos: opts.qos, retain: opts.retain, ...properties });
  }

  get connected(): boolean {
    return !!this.client?.connected;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    for (const w of this.waiting) clearTimeout(w.timer);
    this.waiting = [];
    this.releaseLoopGate?.();
    const client = this.client;
    this.setState('closed');
    if (!client) return;
    // force: unacknowledged messages are left to the broker, which redelivers them to the next session
    await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
  }
}
