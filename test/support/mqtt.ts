import mqtt, { type IClientOptions } from 'mqtt';

/** Resolves with how the broker refused a client that must not get in (its error, or 'closed'). */
export function refusedConnection(url: string, opts: IClientOptions): Promise<Error | 'closed'> {
  return new Promise((resolve) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    c.once('error', (err) => {
      c.end(true);
      resolve(err);
    });
    c.once('close', () => {
      c.end(true);
      resolve('closed');
    });
    c.once('connect', () => {
      c.end(true);
      resolve(new Error('unexpectedly connected'));
    });
  });
}
