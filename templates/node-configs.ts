/**
 * Node type -> the settings a template gives it: the node's own config interface (nodes/<name>/), so a builder that
 * names a setting the node does not read, or gives it the wrong type, does not compile. Node-RED's core nodes have no
 * published types: the settings the templates use are declared here. A type not listed takes any JSON settings
 * (`SettingsOf` in kit.ts); add its interface here when the node declares one.
 */
import type { ApiGateConfig } from '../nodes/api-gate/api-gate';
import type { BrokerConfig } from '../nodes/fabric-broker/config';
import type { ExceptionConfig } from '../nodes/fabric-exception/config';
import type { IdempotentConfig } from '../nodes/fabric-idempotent/config';
import type { MqttInConfig } from '../nodes/fabric-mqtt-in/config';
import type { MqttOutConfig } from '../nodes/fabric-mqtt-out/config';
import type { FabricStoreConfig } from '../nodes/fabric-store/config';
import type { OpsFeedConfig } from '../nodes/ops-feed/config';
import type { OwnershipConfig } from '../nodes/ownership-config/ownership-config';
import type { ProcessStepConfig } from '../nodes/process-step/config';

/** What the editor keeps for a node besides its own settings: the number of outputs where the node's dialog sets it. */
type Settings<C> = Omit<C, 'id'> & { outputs?: number };

/** A rule of a change node. */
export interface ChangeRule {
  t: 'set' | 'change' | 'delete' | 'move';
  p: string;
  pt: 'msg' | 'flow' | 'global';
  to?: string;
  tot?: 'msg' | 'str' | 'num' | 'bool' | 'json' | 'jsonata' | 'env' | 'date';
}
/** A rule of a switch node. */
interface SwitchRule {
  t: string;
  v?: string;
  vt?: string;
}

export interface TemplateNodeConfigs {
  'fabric-store': Settings<FabricStoreConfig>;
  'fabric-broker': Settings<BrokerConfig>;
  'ownership-config': Settings<OwnershipConfig>;
  'fabric-mqtt-in': Settings<MqttInConfig>;
  'fabric-mqtt-out': Settings<MqttOutConfig>;
  'fabric-exception': Settings<ExceptionConfig>;
  'fabric-idempotent': Settings<IdempotentConfig>;
  'process-step': Settings<ProcessStepConfig>;
  'ops-feed': Settings<OpsFeedConfig>;
  'api-gate': Settings<ApiGateConfig>;
  // Node-RED core nodes
  comment: { name: string; info: string };
  'link in': { name: string; links: string[] };
  'link out': { name: string; mode: 'link' | 'return'; links: string[] };
  catch: { name: string; scope: string[] | null; uncaught: boolean };
  change: { name: string; rules: ChangeRule[] };
  switch: { name: string; property: string; propertyType: string; rules: SwitchRule[]; checkall: 'true' | 'false'; repair: boolean; outputs: number };
  inject: { name: string; props: Array<{ p: string; v?: string; vt?: string }>; repeat: string; crontab: string; once: boolean; onceDelay: string; topic: string; payload: string; payloadType: string };
  debug: { name: string; active: boolean; tosidebar: boolean; console: boolean; tostatus?: boolean; complete: string; targetType: string; statusVal: string; statusType: string };
  function: { name: string; func: string; outputs: number; timeout?: number; noerr?: number; initialize?: string; finalize?: string; libs?: unknown[] };
  'http in': { name: string; url: string; method: 'get' | 'post' | 'put' | 'patch' | 'delete'; upload: boolean; swaggerDoc: string };
  'http response': { name: string; statusCode: string; headers: Record<string, string> };
}
