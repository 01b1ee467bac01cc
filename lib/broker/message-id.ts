import crypto from 'node:crypto';

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
