/**
 * Baseline "node-red-ceiling": the same MQTT-in node as the PS Fabric subject (fabric-mqtt-in: inbox commit
 * before PUBACK) followed by as many no-op hops as the subject has after its MQTT-in node. The last hop is the
 * measurement tap. The TE lines are not JSON, so they leave fabric-mqtt-in on output 2 (raw text), exactly as
 * in the subject flow.
 */
export function nodeRedCeilingFlow(opts: { topic: string; hops: number }): unknown[] {
  const tab = { id: 'bench-nrc', type: 'tab', label: 'bench: node-red ceiling' };
  const broker = { id: 'bench-nrc-broker', type: 'fabric-broker', name: 'bus', mode: 'embedded', url: '', clientId: 'bench-nrc', clean: false, protocolVersion: '4', keepalive: 60, sharedGroup: '' };
  const nodes: any[] = [tab, broker];
  const ids = Array.from({ length: opts.hops }, (_, i) => `bench-nrc-hop${i + 1}`);
  nodes.push({ id: 'bench-nrc-in', type: 'fabric-mqtt-in', z: tab.id, name: '', broker: broker.id, store: '', topic: opts.topic, qos: '1', maxBytes: 1048576, wires: [[ids[0]], [ids[0]]], x: 120, y: 100 });
  ids.forEach((id, i) => {
    const last = i === ids.length - 1;
    nodes.push({
      id, type: 'function', z: tab.id, name: last ? 'tap' : `no-op ${i + 1}`,
      func: last ? "global.get('benchDone')(String(msg.payload).split(';', 2)[1]);\nreturn null;" : 'return msg;',
      outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [],
      wires: last ? [[]] : [[ids[i + 1]]], x: 300 + i * 150, y: 100,
    });
  });
  return nodes;
}
