/**
 * Change Data Capture subscriber with a durable replay id. Events are handled one at a time; after the
 * handler has committed an event, its replayId is persisted (store.watermarkSet), and every (re)subscribe
 * asks for "after the last committed id", so a restart or a reconnect resumes exactly there
 * (at-least-once: an event whose handling was interrupted comes again; handlers de-duplicate).
 * On an authentication failure (expired token) the client logs in again and resubscribes.
 * The commit time of the last committed event is kept beside it (`<name>:at`), so when Salesforce refuses the
 * replay id (older than its 72-hour retention) the caller's `onGap` knows where its delta resync starts; the
 * subscription then continues with new events (-1) while the caller re-reads the gap through the query API.
 * Without `onGap`, a refused replay id falls back to everything retained (-2).
 *
 * A subscription can stop receiving while it looks connected: a `/meta/connect` reply that never reaches the client
 * (a request that failed or timed out, a starved process, a streaming node that stopped answering) takes the events
 * the server put in it, and faye resends the connect as if nothing happened. So the subscriber owns its reconnects:
 * a failed Bayeux request, no `/meta/connect` reply within the advised hold plus a grace (the heartbeat watchdog), or
 * a session the server dropped (`403::Unknown client`) is reported (`onStall`) and the subscription is replaced by a
 * new one from the last committed replay id. Before anything was committed (new events only) there is no id to replay
 * from: the caller's `onGap` gets a `stream-lost` gap from when the lost subscription began.
 */
import http from 'node:http';
import https from 'node:https';
import type { Store } from '../../store/store';
import type { SalesforceClient } from './client';
import { isExpiredReplayError } from '../../triggers/gaps';

export interface ChangeEventHeader {
  entityName: string;
  recordIds: string[];
  changeType: 'CREATE' | 'UPDATE' | 'DELETE' | 'UNDELETE' | 'GAP_CREATE' | 'GAP_UPDATE' | 'GAP_DELETE' | 'GAP_UNDELETE' | 'GAP_OVERFLOW';
  changedFields: string[];
  commitTimestamp: number;
  [key: string]: unknown;
}

export interface ChangeEvent {
  schema?: string;
  payload: { ChangeEventHeader: ChangeEventHeader; [field: string]: unknown };
  event: { replayId: number };
}

export type CdcState = 'connecting' | 'connected' | 'reconnecting' | 'stopped' | 'error';

/**
 * Why a subscription that looked connected was resubscribed:
 * - `transport-down`: a Bayeux request (a `/meta/connect` long poll) failed or timed out. faye would resend it by itself,
 *   but the events the server had put in the reply that never arrived are gone with it (Salesforce keeps no per-session
 *   acknowledgement): only a resubscribe with a replay id brings them back;
 * - `no-heartbeat`: no `/meta/connect` reply within the server's advised hold (`advice.timeout`) plus a grace;
 * - `session-lost`: the server no longer knows the session (`403::Unknown client`, advice `handshake`).
 */
export type StallReason = 'transport-down' | 'no-heartbeat' | 'session-lost';

export interface StreamStall {
  reason: StallReason;
  detail: string;
  /** Since the last `/meta/connect` reply (or since the subscription began). */
  silentMs: number;
  /** The replay id the new subscription resumes after; undefined: nothing committed yet (new events only, see onGap). */
  resumeAfter?: number;
}

export interface CdcSubscriberOptions {
  client: SalesforceClient;
  store: Pick<Store, 'watermarkGet' | 'watermarkSet'>;
  /** Watermark name under which the replay id is kept. */
  name: string;
  channel?: string;
  /** Where to start without a stored replay id: -1 new events only (default), -2 all retained. */
  initialReplay?: -1 | -2;
  onEvent: (event: ChangeEvent) => Promise<void>;
  onState?: (state: CdcState, detail?: { backlog: number; error?: Error }) => void;
  /**
   * The position is not served: a stored replay id Salesforce refuses (`replay-expired`), or a stalled subscription
   * that had no replay id to resume from (`stream-lost`). Called once the subscription continues with new events.
   */
  onGap?: (gap: ReplayGap) => void | Promise<void>;
  /** A subscription that looked connected stopped receiving; it is resubscribed right after this call. */
  onStall?: (stall: StreamStall) => void;
  /** Wait beyond the advised `/meta/connect` hold before a silent subscription counts as stalled (default 30 s). */
  heartbeatGraceMs?: number;
  now?: () => number;
}

export interface ReplayGap {
  kind: 'replay-expired' | 'stream-lost';
  /** The refused replay id; -1 for `stream-lost` (the lost subscription had none). */
  replayId: number;
  /** Commit time (epoch ms) of the last event handled, or when the lost subscription began: the resync starts there. */
  lastCommitAt?: number;
  error: Error;
}

/** Salesforce holds a `/meta/connect` up to 110 s; used until the server's first advice says otherwise. */
export const SALESFORCE_CONNECT_HOLD_MS = 110_000;
export const DEFAULT_HEARTBEAT_GRACE_MS = 30_000;

/** The CometD replay extension, fed with the last committed replay id instead of the last received one. */
class CommittedReplay {
  constructor(private readonly channel: string, public replayFrom: number) {}
  outgoing(message: any, callback: (m: any) => void): void {
    if (message.channel === '/meta/subscribe' && message.subscription === this.channel) {
      message.ext = { ...(message.ext ?? {}), replay: { [this.channel]: this.replayFrom } };
    }
    callback(message);
  }
}

/** Notices refused handshakes/connects (advice `none` or a 401/403 failure reason). */
class AuthWatch {
  constructor(private readonly onFailure: (message: any) => void) {}
  incoming(message: any, callback: (m: any) => void): void {
    const meta = message.channel === '/meta/handshake' || message.channel === '/meta/connect';
    const failure = String(message.ext?.sfdc?.failureReason ?? '');
    if (meta && message.successful === false && (message.advice?.reconnect === 'none' || /^40[13]/.test(failure))) {
      this.onFailure(message);
      return;
    }
    callback(message);
  }
}

/**
 * The Bayeux heartbeat: every `/meta/connect` reply, with the hold the server advises. A session the server dropped
 * (advice `handshake`, e.g. `403::Unknown client`) is reported instead of left to faye, which would handshake and
 * resubscribe by itself without a word, from whatever replay id it had, and ignore a refused resubscribe.
 */
class Heartbeat {
  constructor(private readonly on: { beat: (holdMs: number | undefined) => void; lost: (message: any) => void }) {}
  incoming(message: any, callback: (m: any) => void): void {
    if (message.channel === '/meta/connect') {
      if (message.successful) this.on.beat(Number.isFinite(Number(message.advice?.timeout)) ? Number(message.advice.timeout) : undefined);
      else if (message.advice?.reconnect === 'handshake') {
        message.advice = { ...message.advice, reconnect: 'none' };
        this.on.lost(message);
      }
    }
    callback(message);
  }
}

export class CdcSubscriber {
  readonly channel: string;
  private fayeClient?: any;
  private replay?: CommittedReplay;
  private queue: ChangeEvent[] = [];
  private draining = false;
  private stopped = true;
  private committed?: number;
  private committedAt?: number;
  private state: CdcState = 'stopped';
  /** Each (re)subscription's number: callbacks of a replaced one are ignored. */
  private generation = 0;
  /** The generation whose subscription is established (its transport failures are stalls). */
  private subscribed = 0;
  /** Ends the wait of a subscription attempt that a newer one (or stop) replaced. */
  private supersede?: () => void;
  private watchdog?: NodeJS.Timeout;
  private holdMs = SALESFORCE_CONNECT_HOLD_MS;
  private lastBeatAt = 0;
  private subscribedAt?: number;
  /** Events handled and committed since start. */
  handled = 0;
  /** Stalled subscriptions resubscribed since start. */
  stalls = 0;

  constructor(private readonly opts: CdcSubscriberOptions) {
    this.channel = opts.channel ?? '/data/OpportunityChangeEvent';
  }

  get backlog(): number {
    return this.queue.length;
  }

  get lastCommittedReplayId(): number | undefined {
    return this.committed;
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  async start(): Promise<void> {
    this.stopped = false;
    const stored = await this.opts.store.watermarkGet(this.opts.name);
    this.committed = stored !== undefined && /^-?\d+$/.test(stored) ? Number(stored) : undefined;
    const at = Number(await this.opts.store.watermarkGet(`${this.opts.name}:at`));
    this.committedAt = Number.isFinite(at) && at > 0 ? at : undefined;
    await this.connect('connecting');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.generation += 1;
    this.supersede?.();
    this.disarm();
    await this.disconnect();
    this.setState('stopped');
    // Let an event in progress finish its commit.
    while (this.draining) await new Promise((r) => setTimeout(r, 10));
  }

  private setState(state: CdcState, error?: Error): void {
    this.state = state;
    this.opts.onState?.(state, { backlog: this.queue.length, error });
  }

  get currentState(): CdcState {
    return this.state;
  }

  private disconnect(): Promise<void> {
    const c = this.fayeClient;
    this.fayeClient = undefined;
    return c ? closeFaye(c) : Promise.resolve();
  }

  /** The watchdog of generation `gen`: fires when no `/meta/connect` reply came within the hold plus the grace. */
  private arm(gen: number): void {
    this.disarm();
    if (this.stopped || gen !== this.generation) return;
    const wait = this.holdMs + (this.opts.heartbeatGraceMs ?? DEFAULT_HEARTBEAT_GRACE_MS);
    this.watchdog = setTimeout(() => {
      if (gen === this.generation) this.stall('no-heartbeat', `no /meta/connect reply for ${Math.round((this.now() - this.lastBeatAt) / 1000)} s (server hold ${Math.round(this.holdMs / 1000)} s)`);
    }, wait);
    this.watchdog.unref?.();
  }

  private disarm(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = undefined;
  }

  private beat(gen: number, holdMs: number | undefined): void {
    if (gen !== this.generation) return;
    if (holdMs !== undefined && holdMs > 0) this.holdMs = holdMs;
    this.lastBeatAt = this.now();
    this.arm(gen);
  }

  /**
   * A subscription that stopped receiving: warned about, then replaced by a new one from the last committed replay id
   * (what Salesforce asks of a client after a lost session). With nothing committed and new events only, what was
   * published meanwhile is not replayable: it goes to onGap (`stream-lost`) from when the lost subscription began.
   */
  private stall(reason: StallReason, detail: string): void {
    if (this.stopped) return;
    this.stalls += 1;
    this.opts.onStall?.({ reason, detail, silentMs: this.now() - this.lastBeatAt, resumeAfter: this.committed });
    // before a first subscription was established nothing was promised: the next one simply starts with new events
    const lost = this.committed === undefined && this.subscribedAt !== undefined && (this.opts.initialReplay ?? -1) === -1 && this.opts.onGap;
    const gap: ReplayGap | undefined = lost ? { kind: 'stream-lost', replayId: -1, lastCommitAt: this.subscribedAt, error: new Error(`${reason}: ${detail}`) } : undefined;
    this.connect('reconnecting', undefined, gap, new Error(reason)).catch((e: Error) => this.setState('error', e));
  }

  /** `why`: the reason shown with the state (a stall's). */
  private async connect(state: CdcState, fallback?: -1 | -2, gap?: ReplayGap, why?: Error): Promise<void> {
    this.supersede?.();
    const gen = ++this.generation;
    this.setState(state, why);
    this.lastBeatAt = this.now();
    // covers the handshake and subscribe too: an attempt that hangs is replaced like a stalled subscription
    this.arm(gen);
    await this.disconnect();
    const from = fallback ?? this.committed ?? this.opts.initialReplay ?? -1;
    const replay = new CommittedReplay(this.channel, from);
    const auth = new AuthWatch(() => {
      if (gen === this.generation) void this.restart(true);
    });
    const heartbeat = new Heartbeat({
      beat: (holdMs) => this.beat(gen, holdMs),
      lost: (m) => {
        if (gen === this.generation) this.stall('session-lost', `the server ended the streaming session (${String(m.error ?? 'advice handshake')})`);
      },
    });
    const { faye: client } = await this.opts.client.streamingClient([replay, auth, heartbeat]);
    ownConnections(client);
    if (gen !== this.generation || this.stopped) {
      await closeFaye(client);
      return;
    }
    this.replay = replay;
    this.fayeClient = client;
    client.bind?.('transport:down', () => {
      if (gen === this.generation && this.subscribed === gen) this.stall('transport-down', 'a Bayeux request failed or timed out; the events of a reply that never arrived are only replayed by a resubscribe');
    });
    const outcome = await new Promise<{ ok: true } | { ok: false; error: Error } | undefined>((resolve) => {
      this.supersede = () => resolve(undefined);
      client.subscribe(this.channel, (message: ChangeEvent) => this.receive(message)).then(
        () => resolve({ ok: true }),
        (e: any) => resolve({ ok: false, error: Object.assign(new Error(`CometD subscribe to ${this.channel} failed: ${e?.message ?? String(e)}`), { bayeux: e }) }),
      );
    });
    if (!outcome || gen !== this.generation || this.stopped) return;
    this.supersede = undefined;
    if (outcome.ok) {
      this.subscribed = gen;
      this.subscribedAt = this.now();
      this.setState('connected');
      if (gap) await this.opts.onGap?.(gap);
      return;
    }
    const e = outcome.error;
    this.disarm();
    // A stored replay id the server no longer retains: new events from here, the gap to the caller's resync
    // (or, without one, everything retained; handlers de-duplicate).
    if (isExpiredReplayError(e.message) && fallback === undefined && from >= 0) {
      this.setState('error', e);
      if (this.opts.onGap) await this.connect('reconnecting', -1, { kind: 'replay-expired', replayId: from, lastCommitAt: this.committedAt, error: e });
      else await this.connect('reconnecting', -2);
      return;
    }
    this.setState('error', e);
    throw e;
  }

  /** Renews the session (on auth failure) and resubscribes from the last committed replay id. */
  private async restart(auth: boolean): Promise<void> {
    if (this.stopped) return;
    try {
      if (auth) {
        this.setState('reconnecting');
        await this.opts.client.login(true);
      }
      await this.connect('reconnecting');
    } catch (e) {
      this.setState('error', e as Error);
    }
  }

  private receive(message: ChangeEvent): void {
    if (this.stopped) return;
    const id = message?.event?.replayId;
    if (typeof id !== 'number') return;
    if (this.committed !== undefined && id <= this.committed) return;
    if (this.queue.some((q) => q.event.replayId === id)) return;
    this.queue.push(message);
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length && !this.stopped) {
        const next = this.queue[0];
        try {
          await this.opts.onEvent(next);
        } catch (e) {
          // Not committed: resubscribe from the last committed id so the event comes again.
          this.queue = [];
          this.setState('error', e as Error);
          if (!this.stopped) setTimeout(() => void this.restart(false), 1000).unref();
          return;
        }
        this.committed = next.event.replayId;
        if (this.replay) this.replay.replayFrom = this.committed;
        const now = this.now();
        await this.opts.store.watermarkSet(this.opts.name, String(this.committed), now);
        // After the replay id, so the stored commit time is never ahead of it (a resync from it starts early, not late).
        const at = Number(next.payload?.ChangeEventHeader?.commitTimestamp);
        if (Number.isFinite(at) && at > 0) {
          this.committedAt = at;
          await this.opts.store.watermarkSet(`${this.opts.name}:at`, String(at), now);
        }
        this.handled += 1;
        this.queue.shift();
        if (this.state === 'connected') this.opts.onState?.('connected', { backlog: this.queue.length });
      }
    } finally {
      this.draining = false;
    }
  }
}

/**
 * Sends a faye client's Bayeux requests on connections of their own (no keep-alive) instead of Node's global agent.
 * On Node 20 a pooled socket keeps the idle timeout it got from the server's `Keep-Alive: timeout=5` hint (4 s) when it
 * is reused (nodejs/node#53458): under CPU load a `/meta/connect` held longer than that was cut ("socket hang up"), and
 * the events of its reply lost. A connection per request costs a handshake per long poll (one per advised hold or
 * event batch). faye picks a new transport object at each (re)handshake, so every transport it selects is wrapped.
 */
function ownConnections(client: any): void {
  const dispatcher = client?._dispatcher;
  if (!dispatcher) return;
  const agents = { http: new http.Agent({ keepAlive: false }), https: new https.Agent({ keepAlive: false }) };
  const wrap = (transport: any) => {
    const base = transport?._httpClient;
    if (!base?.request || transport._ownConnections) return;
    const agent = base === https ? agents.https : agents.http;
    transport._httpClient = { request: (params: any) => base.request({ ...params, agent: params.agent ?? agent }) };
    transport._ownConnections = true;
  };
  let current = dispatcher._transport;
  wrap(current);
  Object.defineProperty(dispatcher, '_transport', {
    configurable: true,
    enumerable: true,
    get: () => current,
    set: (transport: any) => {
      current = transport;
      wrap(transport);
    },
  });
}

/**
 * Disconnects a faye client and releases its timers: waits (briefly) for the /meta/disconnect reply, then
 * drops whatever is still in flight so no retry timer keeps the process alive.
 */
async function closeFaye(client: any): Promise<void> {
  let publication: any;
  try {
    publication = client.disconnect();
  } catch {
    // not connected
  }
  if (publication && typeof publication.then === 'function') {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => publication.then(() => resolve(), () => resolve())),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 2000);
      }),
    ]);
    if (timer) clearTimeout(timer);
  }
  const dispatcher = client._dispatcher;
  if (dispatcher) {
    for (const envelope of dispatcher._envelopes?.values?.() ?? []) if (envelope?.timer) clearTimeout(envelope.timer);
    dispatcher._envelopes?.clear?.();
    try {
      dispatcher.close();
    } catch {
      // already closed
    }
  }
}
