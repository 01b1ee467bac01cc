import crypto from 'node:crypto';
import { parseJsonSafely } from '../model/safe-json';

/** The inbox id of a message: the CloudEvent id when the payload is an envelope, else a hash of topic + bytes. */
export function inboxMessageId(topic: string, payload: Buffer, parsed: unknown): string {
  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
    const ev = parsed as Record<string, unknown>;
    if (typeof ev.specversion === 'string' && typeof ev.id === 'string' && ev.id && typeof ev.source === 'string') {
      return `ce:${ev.source}#${ev.id}`;
    }
  }
  return 'sha256:' + crypto.createHash('sha256').update(topic).update('\n').update(payload).digest('hex');
}

/**
 * Every inbox id a trigger may have given this message, without knowing the trigger: the hash (a text-format trigger,
 * or a payload over its size limit or not JSON) and, when the payload is a CloudEvent envelope, its event id.
 */
export function inboxMessageIdsOf(topic: string, payload: Buffer): string[] {
  const hashed = inboxMessageId(topic, payload, undefined);
  // no size limit here: a trigger's own limit only decides between the two ids, and both are returned
  const parsed = parseJsonSafely(payload, { maxBytes: Math.max(1, payload.length) });
  const id = parsed.ok ? inboxMessageId(topic, payload, parsed.value) : hashed;
  return id === hashed ? [hashed] : [hashed, id];
}
