/**
 * The vendor sandboxes in a process of their own (support/vendors-child.ts) for the scenarios that SIGKILL the
 * runtime: what a vendor accepted stays accepted, so the counts at the end are made at the vendors.
 */
import path from 'node:path';
import { start, type Child } from './child';

const VENDORS = path.join(__dirname, 'vendors-child.js');

export interface VendorsChild extends Child {
  url: string;
  request<T = any>(msg: Record<string, unknown>): Promise<T>;
}

export async function startVendors(): Promise<VendorsChild> {
  let url = '';
  const pending = new Map<number, { resolve(v: any): void; reject(e: Error): void }>();
  let next = 0;
  const child = await start(VENDORS, {}, (m: any) => {
    if (m?.ready) url = m.url;
    if (m?.reply !== undefined) {
      const p = pending.get(m.reply);
      pending.delete(m.reply);
      if (m.error) p?.reject(new Error(m.error));
      else p?.resolve(m);
    }
  });
  return {
    ...child,
    url,
    request(msg) {
      const id = ++next;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.proc.send({ ...msg, id });
      });
    },
  };
}

export async function json(url: string, method = 'GET', body?: unknown): Promise<any> {
  const res = await fetch(url, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status} ${await res.text()}`);
  return res.status === 204 ? undefined : res.json();
}

/**
 * A named MQTT client for the runtime's broker (anonymous clients publish nothing: docs/security.md), as the
 * `FABRIC_MQTT_USERS` value that declares it and the credentials to connect with.
 */
export function mqttUser(username: string, topics: string[]): { env: string; credentials: { username: string; password: string } } {
  const credentials = { username, password: `${username}-reliability-password` };
  return { env: JSON.stringify({ users: [{ ...credentials, publish: topics, subscribe: topics }] }), credentials };
}
