/**
 * `fabric-broker` config node: one MQTT connection (mqtt.js, lib/broker/connection.ts) shared by every
 * fabric-mqtt-in / fabric-mqtt-out node that names it. Either the runtime's embedded aedes broker or any
 * MQTT 3.1.1/5 broker URL; credentials in Node-RED `credentials`; persistent session by default; optional
 * shared-subscription group. Users register and deregister; connection status fans out to all of them.
 */
import { FabricMqttConnection, getEmbeddedBroker } from '../../lib/broker';
import { registerNode, type Node, type NodeAPI, type StatusOptions } from '../node-red-api';
import type { FabricBrokerNode } from '../connection-config';

import { FABRIC_BROKER, type BrokerConfig } from './config';
import { positiveSetting } from '../settings';


export = function (RED: NodeAPI) {
  const t = (key: string, subs?: Record<string, unknown>) => RED._(`fabric-broker.${key}`, subs);

  function FabricBroker(this: FabricBrokerNode, config: BrokerConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const users = new Map<string, Node>();
    const mode = config.mode === 'url' ? 'url' : 'embedded';
    let url = (config.url ?? '').trim();
    let username = node.credentials?.username;
    let password = node.credentials?.password;
    if (mode === 'embedded') {
      const embedded = getEmbeddedBroker();
      if (!embedded) {
        node.configError = t('errors.noEmbedded');
      } else {
        url = embedded.url;
        if (!username && embedded.username) {
          username = embedded.username;
          password = embedded.password;
        }
      }
    } else if (!/^(mqtts?|wss?|tcp|ssl):\/\//.test(url)) {
      node.configError = t('errors.badUrl', { url });
    }
    // Scale-out runtime (FABRIC_MQTT_URL, docs/scale-out.md): "embedded" means the runtime's external broker, with
    // the runtime's shared-subscription group; every client id gets the instance id so instances do not collide.
    const runtime = getEmbeddedBroker();
    const scaleOut = runtime?.external ? runtime : undefined;
    const group = (config.sharedGroup ?? '').trim() || (mode === 'embedded' ? scaleOut?.sharedGroup ?? '' : '');
    if (group && !/^[^/#+]+$/.test(group)) node.configError = t('errors.badGroup', { group });

    const describe = (): StatusOptions => {
      if (node.configError) return { fill: 'red', shape: 'ring', text: t('status.configError') };
      const c = node.connection;
      switch (c?.state) {
        case 'connected':
          return { fill: 'green', shape: 'dot', text: t('status.connected') };
        case 'reconnecting':
        case 'connecting':
          return { fill: 'yellow', shape: 'ring', text: t('status.connecting') };
        case 'error':
          return { fill: 'red', shape: 'ring', text: t('status.error', { error: c.lastError ?? '' }) };
        default:
          return { fill: 'red', shape: 'ring', text: t('status.disconnected') };
      }
    };
    // its users ask on every message (fabric-mqtt-in's counts): translate once per state, not per message (3.6 % of
    // the runtime's main thread in bench scenario 1)
    let described: { key: string; status: StatusOptions } | undefined;
    node.statusFor = () => {
      const c = node.connection;
      const key = `${node.configError ?? ''}\u0000${c?.state ?? ''}\u0000${c?.lastError ?? ''}`;
      if (described?.key !== key) described = { key, status: describe() };
      return { ...described.status }; // a copy: whoever shows it may keep or change it
    };
    const fanOut = () => {
      const s = node.statusFor();
      for (const u of users.values()) u.status(s);
    };

    if (node.configError) {
      node.error(node.configError);
    } else {
      node.connection = new FabricMqttConnection({
        url,
        clientId: ((config.clientId ?? '').trim() || `psfabric-${node.id.replace(/[^A-Za-z0-9]/g, '')}`) + (scaleOut?.instanceId ? `-${scaleOut.instanceId}` : ''),
        clean: config.clean === true,
        username,
        password,
        protocolVersion: Number(config.protocolVersion) === 5 ? 5 : 4,
        keepalive: positiveSetting(config.keepalive, FABRIC_BROKER.defaults.keepalive),
        sharedGroup: group || undefined,
        // let every user node of this deploy register before queued messages arrive
        connectDelayMs: 50,
      });
      node.connection.on('status', fanOut);
      node.connection.on('handlerError', (err: Error, packet: { topic: string }) => {
        node.warn(t('errors.handler', { topic: packet.topic, error: err.message }));
      });
      node.connection.on('orphan', (topic: string) => node.warn(t('errors.orphan', { topic })));
      node.connection.on('subscribeError', (owner: string, filter: string, error: string) => {
        const user = users.get(owner);
        (user ?? node).error(t('errors.subscribe', { filter, error }));
        user?.status({ fill: 'red', shape: 'ring', text: t('status.subscribeRefused') });
      });
    }

    // Each registered user (fabric-mqtt-in / -out) listens to the shared connection's status: one listener per user
    // is expected, not a leak, so the limit follows the number of users (plus the broker's own listeners and headroom).
    const sizeListeners = () => node.connection?.setMaxListeners(Math.max(10, users.size + 10));
    node.register = (user: Node) => {
      users.set(user.id, user);
      sizeListeners();
      user.status(node.statusFor());
    };
    node.deregister = (user: Node) => {
      users.delete(user.id);
      sizeListeners();
    };

    node.on('close', (_removed: boolean, done: () => void) => {
      const c = node.connection;
      node.connection = undefined;
      users.clear();
      if (!c) return done();
      c.close().then(done, done);
    });
  }

  registerNode(RED, FABRIC_BROKER.type, FabricBroker, FABRIC_BROKER);
};
