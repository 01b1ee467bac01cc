/**
 * A socket.io v4 client over engine.io's HTTP long-polling transport, written against the protocol (no
 * socket.io-client in node_modules): what an attacker's script would do against /dashboard/socket.io.
 * Packets: engine.io `0` open, `2` ping, `3` pong, `4` message; socket.io inside `4`: `0` connect, `2` event,
 * `4` connect error. Several packets in one HTTP body are separated by \x1e.
 */
export interface SocketIoResult {
  /** 'connected' or the connect_error message. */
  connect: string;
  events: Array<[string, ...unknown[]]>;
}

export class PollingSocket {
  private sid = '';
  readonly events: Array<[string, ...unknown[]]> = [];
  connectError?: string;
  connected = false;
  closed = false;

  constructor(private readonly base: string, private readonly headers: Record<string, string> = {}) {}

  private url(): string {
    return `${this.base}/dashboard/socket.io/?EIO=4&transport=polling${this.sid ? `&sid=${this.sid}` : ''}`;
  }

  /** Opens the engine.io session and asks for the default namespace; resolves once answered. */
  async open(): Promise<this> {
    const r = await fetch(this.url(), { headers: this.headers });
    const text = await r.text();
    if (r.status !== 200 || !text.startsWith('0')) throw new Error(`engine.io handshake answered ${r.status}: ${text.slice(0, 200)}`);
    this.sid = (JSON.parse(text.slice(1)) as { sid: string }).sid;
    await this.post('40');
    while (!this.connected && this.connectError === undefined && !this.closed) await this.poll();
    return this;
  }

  private async post(body: string): Promise<void> {
    const r = await fetch(this.url(), { method: 'POST', headers: { ...this.headers, 'content-type': 'text/plain;charset=UTF-8' }, body });
    const text = await r.text();
    if (r.status !== 200) throw new Error(`engine.io POST answered ${r.status}: ${text.slice(0, 200)}`);
  }

  /** One long-poll: records the packets it carries. */
  async poll(): Promise<void> {
    const r = await fetch(this.url(), { headers: this.headers });
    const text = await r.text();
    if (r.status !== 200) {
      this.closed = true;
      return;
    }
    for (const packet of text.split('\x1e')) {
      if (packet === '2') await this.post('3');
      else if (packet === '1') this.closed = true;
      else if (packet.startsWith('40')) this.connected = true;
      else if (packet.startsWith('44')) this.connectError = (JSON.parse(packet.slice(2)) as { message: string }).message;
      else if (packet.startsWith('42')) this.events.push(JSON.parse(packet.slice(2)) as [string, ...unknown[]]);
    }
  }

  /** Polls until `until` holds over the events received, or the session ends. */
  async pollUntil(until: (events: Array<[string, ...unknown[]]>) => boolean, maxPolls = 50): Promise<boolean> {
    for (let i = 0; i < maxPolls && !this.closed; i++) {
      if (until(this.events)) return true;
      await this.poll();
    }
    return until(this.events);
  }

  /** socket.emit(event, ...args) */
  async emit(event: string, ...args: unknown[]): Promise<void> {
    await this.post(`42${JSON.stringify([event, ...args])}`);
  }

  async close(): Promise<void> {
    if (this.closed || !this.sid) return;
    this.closed = true;
    await this.post('1').catch(() => {});
  }
}
