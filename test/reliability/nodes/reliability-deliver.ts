/**
 * Test-only Node-RED node `reliability-deliver` (loaded from <userDir>/nodes by the reliability suite, never shipped):
 * writes msg.payload (a canonical CloudEvent) to the reliability target through the real outbox engine of the
 * flow's fabric-store, keyed by the envelope's `idempotencykey`. Thin, like the connector nodes: persist (submit),
 * continue the flow when delivered, done(err) when it lands in the exception queue.
 */
import { deliveryFor } from '../../../lib/delivery/engine';
import { httpExecutor } from '../../../lib/delivery/http-executor';
import { inboxRefOf } from '../../../lib/inbox';

export = function (RED: any) {
  function ReliabilityDeliver(this: any, config: any) {
    RED.nodes.createNode(this, config);
    const node = this;
    const storeNode = RED.nodes.getNode(config.store);
    if (!storeNode?.store) {
      node.status({ fill: 'red', shape: 'ring', text: 'no store' });
      return;
    }
    const engine = deliveryFor(storeNode.store, storeNode.services);
    const handle = engine.registerConnection(`reliability:${node.id}`, httpExecutor({ baseUrl: config.url }), {
      ratePerSecond: Number(config.rate) || 0,
      concurrency: Number(config.concurrency) || 4,
      maxAttempts: 10,
      baseDelayMs: 50,
      maxDelayMs: 1000,
      breakerThreshold: 20,
      breakerHalfOpenAfterMs: 500,
      attemptTimeoutMs: 5000,
    });
    node.on('input', (msg: any, send: (m: any) => void, done: (e?: Error) => void) => {
      const ce = msg.payload ?? {};
      const key = typeof ce.idempotencykey === 'string' && ce.idempotencykey ? ce.idempotencykey : undefined;
      if (!key) return done(new Error('reliability-deliver: msg.payload.idempotencykey is required'));
      handle
        .submit({ operation: 'effects', idempotencyKey: key, request: { id: ce.data?.id ?? null, type: ce.type ?? null, data: ce.data ?? null }, correlationId: ce.correlationid, process: 'reliability', step: 'deliver', recordKey: `TimeEntry/${ce.data?.id}`, inbox: inboxRefOf(msg), context: { receivedBy: process.env.FABRIC_INSTANCE_ID ?? null } })
        .then(
          (r: any) => {
            msg.delivery = { duplicate: r.duplicate };
            send(msg);
            done();
          },
          (err: Error) => done(err),
        );
    });
    node.on('close', (_removed: boolean, done: () => void) => {
      handle.close().then(() => done(), () => done());
    });
  }
  RED.nodes.registerType('reliability-deliver', ReliabilityDeliver);
};
