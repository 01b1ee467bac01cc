/**
 * Where Node-RED nodes find the runtime's embedded broker. The launcher (runtime/launcher.ts) registers it;
 * a `fabric-broker` config node in "embedded" mode asks for the connection details here. Kept on a global
 * symbol so it survives the module being loaded twice (Node-RED loads nodes from its own require path).
 */
import type { RunningBroker } from './broker';

export interface EmbeddedBrokerInfo {
  broker: RunningBroker;
  /** Where in-runtime clients connect (the TCP listener), e.g. mqtt://127.0.0.1:1883. */
  url: string;
  /** Credentials of the runtime's internal user, set when the broker requires authentication for everyone. */
  username?: string;
  password?: string;
  /**
   * Scale-out (FABRIC_MQTT_URL): `url` is then an external broker, and "embedded"-mode fabric-broker nodes subscribe
   * through this shared-subscription group (unless they name their own) and append `instanceId` to their client id,
   * so identical flows on several instances neither steal each other's session nor each process every message.
   */
  external?: boolean;
  sharedGroup?: string;
  instanceId?: string;
}

const KEY = Symbol.for('ps-fabric.embedded-broker');
type Holder = { [KEY]?: EmbeddedBrokerInfo };

export function setEmbeddedBroker(info: EmbeddedBrokerInfo | undefined): void {
  (globalThis as Holder)[KEY] = info;
}

export function getEmbeddedBroker(): EmbeddedBrokerInfo | undefined {
  return (globalThis as Holder)[KEY];
}
