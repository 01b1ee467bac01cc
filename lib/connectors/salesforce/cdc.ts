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
 */
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
  /** The stored replay id is no longer served; called once the subscription continues with new events. */
  onGap?: (gap: ReplayGap) => void | Promise<void>;
  now?: () => number;
}

export interface ReplayGap {
  kind: 'replay-expired';
  /** The refused replay id. */
  replayId: number;
  /** Commit time (epoch ms) of the last event handled, when known: the resync starts there. */
  lastCommitAt?: number;
  error: Error;
}

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

export class CdcSubscriber {
  readonly channel: string;
  private fayeClient?: any;
  private replay?: CommittedReplay;
  private queue: ChangeEvent[] = [];
  private draining = false;
  private stopped = true;
  private committed?: number;
  private committedAt?: number;
  private restarting = false;
  private state: CdcState = 'stopped';
  /** Events handled and committed since start. */
  handled = 0;

  constructor(private readonly opts: CdcSubscriberOptions) {
    this.channel = opts.channel ?? '/data/OpportunityChangeEvent';
  }

  get backlog(): number {
    return this.queue.length;
  }

  get lastCommittedReplayId(): number | undefined {
    return this.committed;
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

  private async connect(state: CdcState, fallback?: -1 | -2, gap?: ReplayGap): Promise<void> {
    this.setState(state);
    await this.disconnect();
    const from = fallback ?? this.committed ?? this.opts.initialReplay ?? -1;
    this.replay = new CommittedReplay(this.channel, from);
    const auth = new AuthWatch(() => void this.restart(true));
    const { faye: client } = await this.opts.client.streamingClient([this.replay, auth]);
    this.fayeClient = client;
    await new Promise<void>((resolve, reject) => {
      const sub = client.subscribe(this.channel, (message: ChangeEvent) => this.receive(message));
      sub.then(
        () => resolve(),
        (e: any) => reject(Object.assign(new Error(`CometD subscribe to ${this.channel} failed: ${e?.message ?? String(e)}`), { bayeux: e })),
      );
    }).then(
      async () => {
        this.setState('connected');
        if (gap) await this.opts.onGap?.(gap);
      },
      async (e: Error) => {
        if (this.stopped || client !== this.fayeClient) return;
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
      },
    );
  }

  /** Renews the session (on auth failure) and resubscribes from the last committed replay id. */
  private async restart(auth: boolean): Promise<void> {
    if (this.stopped || this.restarting) return;
    this.restarting = true;
    try {
      await this.disconnect();
      this.setState('reconnecting');
      if (auth) await this.opts.client.login(true);
      await this.connect('reconnecting');
    } catch (e) {
      this.setState('error', e as Error);
    } finally {
      this.restarting = false;
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
        const now = (this.opts.now ?? Date.now)();
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
