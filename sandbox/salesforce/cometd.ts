/**
 * The sandbox's Streaming API endpoint: Bayeux/CometD at `/salesforce/cometd/<version>` on a faye
 * NodeAdapter attached to the sandbox HTTP server, the way jsforce's streaming client talks to Salesforce:
 *  - every Bayeux message must carry `Authorization: OAuth <access token>` (a refused handshake answers
 *    `403::Handshake denied` with `ext.sfdc.failureReason = 401::Authentication invalid` and advice `none`),
 *  - only long-polling is offered,
 *  - the replay extension is honoured: a subscribe's `ext.replay = { <channel>: <replayId> }` with `-1`
 *    (new events only, the default), `-2` (all retained) or a retained id (everything after it).
 * Events are kept with increasing replay ids in the sandbox state; each subscribed client has a cursor and
 * gets, in order, every retained event after it. Delivery goes straight into the client's faye queue, so a
 * replayed backlog and live events never interleave or repeat.
 *
 * Sessions as Salesforce keeps them: a `/meta/connect` is held up to `connectTimeoutSeconds` (advised to the client as
 * `advice.timeout`; Salesforce holds 110 s), and a client that has not reconnected within 40 s of a reply loses its
 * session: its next message is answered `403::Unknown client` with advice `handshake`. Events queued for a session are
 * handed to the connect reply that carries them: a reply the client never reads takes them with it (Salesforce keeps no
 * per-session acknowledgement), so only a resubscribe with a replay id brings them back.
 *
 * Faults, as a streaming outage shows them to the sessions open at the time (`fault`): `stall` keeps those sessions
 * alive but never answers their `/meta/connect` again (each held connect's reply, events included, is lost);
 * `expire` ends them at once (their next connect gets `403::Unknown client`). New sessions are served normally.
 */
import type http from 'node:http';

// faye ships no TypeScript types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const faye: any = require('faye');

export interface CdcEvent {
  schema: string;
  payload: Record<string, unknown>;
  event: { replayId: number };
}

export interface CometdHost {
  /** Valid token -> true. */
  isValidToken(token: string): boolean;
  /** Retained events of a channel, oldest first. */
  retained(channel: string): CdcEvent[];
  lastReplayId(channel: string): number;
  channels: string[];
}

/** Salesforce expires a streaming session whose client has not reconnected within 40 s of a reply. */
export const RECONNECT_TIMEOUT_S = 40;
/** How long a `/meta/connect` is held without events (Salesforce: 110 s; shorter here, advised to the client). */
export const DEFAULT_CONNECT_TIMEOUT_S = 25;

export type StreamingFault = 'stall' | 'expire' | 'none';

export class CometdEndpoint {
  private readonly adapter: any;
  /** clientId -> channel -> replay id of the last event queued to it. */
  private readonly cursors = new Map<string, Map<string, number>>();
  /** Replay positions asked for in subscribe messages, until the subscribe succeeds. */
  private readonly pendingReplay = new Map<string, number>();
  /** Sessions whose `/meta/connect` is never answered again (fault `stall`). */
  private readonly stalled = new Set<string>();

  constructor(private readonly host: CometdHost, mount: string) {
    this.adapter = new faye.NodeAdapter({ mount, timeout: DEFAULT_CONNECT_TIMEOUT_S });
    this.adapter.addExtension({
      incoming: (message: any, request: http.IncomingMessage | null, callback: (m: any) => void) => this.incoming(message, request, callback),
      outgoing: (message: any, request: http.IncomingMessage | null, callback: (m: any) => void) => this.outgoing(message, request, callback),
    });
    this.adapter.bind('disconnect', (clientId: string) => {
      this.cursors.delete(clientId);
      this.stalled.delete(clientId);
    });
    this.adapter.bind('unsubscribe', (clientId: string, channel: string) => this.cursors.get(clientId)?.delete(channel));
  }

  /**
   * Serves Bayeux over plain HTTP only (Salesforce offers long-polling, no WebSocket): faye's `attach`
   * would also take over `upgrade`, and upgraded sockets outlive `server.closeAllConnections()`.
   */
  attach(server: http.Server): void {
    this.adapter._overrideListeners(server, 'request', 'handle');
  }

  close(): void {
    try {
      this.adapter.close();
    } catch {
      // already closed
    }
    this.cursors.clear();
    this.stalled.clear();
  }

  /** Seconds a `/meta/connect` is held without events (the `advice.timeout` given to clients). */
  get connectTimeoutSeconds(): number {
    return this.adapter._server._engine.timeout;
  }

  set connectTimeoutSeconds(seconds: number) {
    if (!(Number.isFinite(seconds) && seconds > 0 && seconds <= 110)) throw new RangeError(`the connect timeout must be 0 < s <= 110, got ${seconds}`);
    this.adapter._server._engine.timeout = seconds;
  }

  /** Applies a streaming fault to the sessions open now (`none` lifts `stall`); returns how many sessions it hit. */
  fault(mode: StreamingFault): number {
    const sessions = [...this.cursors.keys()];
    if (mode === 'none') {
      const n = this.stalled.size;
      this.stalled.clear();
      return n;
    }
    if (mode === 'stall') {
      for (const id of sessions) this.stalled.add(id);
      return sessions.length;
    }
    for (const id of sessions) this.memory().destroyClient(id);
    return sessions.length;
  }

  private memory(): any {
    return this.adapter._server._engine._engine;
  }

  /** Called after an event was stored: every client subscribed to its channel gets what it has not had yet. */
  published(channel: string): void {
    for (const [clientId, channels] of this.cursors) if (channels.has(channel)) this.catchUp(clientId, channel);
  }

  subscriberCount(channel: string): number {
    let n = 0;
    for (const channels of this.cursors.values()) if (channels.has(channel)) n++;
    return n;
  }

  private token(request: http.IncomingMessage | null): string | undefined {
    const header = request?.headers?.authorization;
    const m = typeof header === 'string' ? /^(?:OAuth|Bearer)\s+(.+)$/i.exec(header.trim()) : null;
    return m?.[1];
  }

  private incoming(message: any, request: http.IncomingMessage | null, callback: (m: any) => void): void {
    if (request === null) return callback(message); // in-process (server-side) clients
    const channel: string = message.channel;
    const token = this.token(request);
    const authorised = token !== undefined && this.host.isValidToken(token);
    if (!authorised) {
      (request as any).__sfAuthFailed = true;
      message.error = channel === '/meta/handshake' ? '403::Handshake denied' : '401::Authentication invalid';
      return callback(message);
    }
    if (channel === '/meta/subscribe') {
      const subscription: string = message.subscription;
      if (!this.host.channels.includes(subscription)) {
        message.error = `400::The channel you requested to subscribe to does not exist {${subscription}}`;
        return callback(message);
      }
      const asked = message.ext?.replay?.[subscription];
      const replayFrom = asked === undefined || asked === null ? -1 : Number(asked);
      const last = this.host.lastReplayId(subscription);
      const retained = this.host.retained(subscription);
      const oldest = retained.length ? retained[0].event.replayId : last + 1;
      if (!Number.isInteger(replayFrom) || replayFrom < -2 || (replayFrom >= 0 && (replayFrom > last || replayFrom < oldest - 1))) {
        message.error = `400::The replayId {${String(asked)}} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.`;
        return callback(message);
      }
      this.pendingReplay.set(`${message.clientId} ${subscription}`, replayFrom);
    } else if (channel !== '/meta/handshake' && channel !== '/meta/connect' && channel !== '/meta/disconnect' && channel !== '/meta/unsubscribe') {
      message.error = '403::Publishing is not supported on the Streaming API';
    }
    callback(message);
  }

  private outgoing(message: any, request: http.IncomingMessage | null, callback: (m: any) => void): void {
    if (request === null) return callback(message);
    const channel: string = message.channel;
    if (typeof channel === 'string' && channel.startsWith('/meta/') && /Unknown client/i.test(String(message.error ?? ''))) message.error = '403::Unknown client';
    if (channel === '/meta/connect' && message.successful) {
      // the session lasts RECONNECT_TIMEOUT_S from this reply unless the client connects again
      const memory = this.memory();
      memory.removeTimeout(message.clientId);
      memory.addTimeout(message.clientId, RECONNECT_TIMEOUT_S, () => memory.destroyClient(message.clientId));
      // stalled: the reply is dropped with the events it carries; the held request stays open until the client gives up
      if (this.stalled.has(message.clientId)) return;
    }
    if (channel === '/meta/handshake') {
      message.ext = { ...(message.ext ?? {}), replay: true, 'payload.format': true };
      if (message.successful) message.supportedConnectionTypes = ['long-polling'];
    }
    if ((request as any).__sfAuthFailed && typeof channel === 'string' && channel.startsWith('/meta/')) {
      message.ext = { ...(message.ext ?? {}), sfdc: { failureReason: '401::Authentication invalid' } };
      message.advice = { reconnect: channel === '/meta/handshake' ? 'none' : 'handshake', interval: 0 };
    }
    if (channel === '/meta/subscribe') {
      const subscription: string = Array.isArray(message.subscription) ? message.subscription[0] : message.subscription;
      const key = `${message.clientId} ${subscription}`;
      const replayFrom = this.pendingReplay.get(key);
      this.pendingReplay.delete(key);
      if (message.successful && replayFrom !== undefined) {
        const last = this.host.lastReplayId(subscription);
        const retained = this.host.retained(subscription);
        const cursor = replayFrom === -1 ? last : replayFrom === -2 ? (retained.length ? retained[0].event.replayId - 1 : last) : replayFrom;
        if (!this.cursors.has(message.clientId)) this.cursors.set(message.clientId, new Map());
        this.cursors.get(message.clientId)!.set(subscription, cursor);
        callback(message);
        // The client registered its listener before sending the subscribe, so the backlog can follow at once.
        this.catchUp(message.clientId, subscription);
        return;
      }
    }
    callback(message);
  }

  private catchUp(clientId: string, channel: string): void {
    const channels = this.cursors.get(clientId);
    const cursor = channels?.get(channel);
    if (!channels || cursor === undefined) return;
    const due = this.host.retained(channel).filter((e) => e.event.replayId > cursor);
    if (due.length === 0) return;
    channels.set(channel, due[due.length - 1].event.replayId);
    // Same path as faye's in-memory engine uses for a publish, but for this one client.
    const memory = this.memory();
    const queue: any[] = memory._messages.get(clientId) ?? [];
    for (const e of due) queue.push({ channel, data: JSON.parse(JSON.stringify(e)) });
    memory._messages.set(clientId, queue);
    memory.emptyQueue(clientId);
  }
}
