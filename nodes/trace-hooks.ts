/**
 * Carries the trace context (lib/telemetry) from node to node through Node-RED's message hooks, so that every node of
 * a flow (core nodes included: change, switch, link) passes it on without knowing about it:
 *  - onReceive: the node's input handler runs in the context of the msg it receives (`msg._fabricTrace`, else the
 *    traceparent of a CloudEvent payload); a connector's outbox write and vendor calls then join that trace;
 *  - onSend: a msg sent while a span (or a received msg's context) is current carries that context on.
 * Installed once per runtime by the PS Fabric nodes that start or continue traces; a no-op while tracing is off.
 */
import { TRACE_PROPERTY, currentTrace, enterMsgTrace, leaveMsgTrace, tracingEnabled } from '../lib/telemetry';

interface Hooks {
  add(name: string, fn: (event: any) => void): void;
}

const installed = new WeakSet<object>();

export function installTraceHooks(RED: unknown): void {
  const hooks = (RED as { hooks?: Hooks }).hooks;
  if (!hooks || installed.has(hooks)) return;
  installed.add(hooks);
  hooks.add('onReceive.fabric-trace', (event: { msg?: unknown }) => {
    if (tracingEnabled()) enterMsgTrace(event?.msg);
  });
  hooks.add('postReceive.fabric-trace', () => {
    if (tracingEnabled()) leaveMsgTrace();
  });
  hooks.add('onSend.fabric-trace', (events: Array<{ msg?: unknown }>) => {
    if (!tracingEnabled()) return;
    const carrier = currentTrace();
    if (!carrier) return;
    for (const e of events) {
      const msg = e?.msg;
      if (msg && typeof msg === 'object') (msg as Record<string, unknown>)[TRACE_PROPERTY] = carrier;
    }
  });
}
