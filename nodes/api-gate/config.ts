import type { NodeDef } from '../node-red-api';
import { choice, configNode, flag, nodeSettings, number, ports, text } from '../settings';

/** The settings of an `api-gate` node (its editor dialog), as the node and the template builders (templates/) read them. */
export interface ApiGateConfig extends NodeDef {
  basePath?: string;
  /** Pre-store consumer file to import once; empty = `<userDir>/ps-fabric/api-consumers.json`. Keys now live in the store. */
  consumersFile?: string;
  acceptKeys?: boolean;
  jwtIssuer?: string;
  jwtAudience?: string;
  jwksUrl?: string;
  jwtPublicKey?: string;
  ratePerSecond?: number | string;
  rateBurst?: number | string;
  maxBodyBytes?: number | string;
  validate?: boolean;
  publicOpenApi?: boolean;
  /** Answer GET <base>/v1/openapi.json itself with the generated document. */
  serveOpenApi?: boolean;
}
/** The settings of an `api-read` node. */
export interface ApiReadConfig extends NodeDef {
  salesforce?: string;
  kantata?: string;
  /** JSON: the ERP config nodes by name. */
  erps?: string;
}
/** The settings of an `api-requests` node. */
export interface ApiRequestsConfig extends NodeDef {
  store?: string;
  mode?: 'accepted' | 'handover' | 'status' | 'updated';
}
/** The settings of an `api-fulfil` node. */
export interface ApiFulfilConfig extends NodeDef {
  store?: string;
  kantata?: string;
  mode?: 'timeentry' | 'project' | 'invoiced' | 'blocked';
}

export const API_GATE = nodeSettings<ApiGateConfig>()({
  type: 'api-gate',
  settings: {
    name: text(),
    basePath: text('/api', { required: true, check: { is: 'regex', pattern: /^\/[A-Za-z0-9/_-]*$/ } }),
    acceptKeys: flag(true),
    consumersFile: text(),
    jwtIssuer: text(),
    jwtAudience: text(),
    jwksUrl: text('', { check: { is: 'regex', pattern: /^https?:\/\/\S+$/, env: true, blank: true } }),
    jwtPublicKey: text(),
    ratePerSecond: number(10, { required: true }),
    rateBurst: number(20, { required: true }),
    maxBodyBytes: number(256 * 1024, { required: true }),
    validate: flag(true),
    publicOpenApi: flag(true),
    serveOpenApi: flag(true),
  },
});

export const API_READ = nodeSettings<ApiReadConfig>()({
  type: 'api-read',
  settings: {
    name: text(),
    salesforce: configNode('salesforce-config'),
    kantata: configNode('kantata-config'),
    erps: text(),
  },
});

export const API_REQUESTS = nodeSettings<ApiRequestsConfig>()({
  type: 'api-requests',
  settings: {
    name: text(),
    store: configNode('fabric-store'),
    mode: choice(['accepted', 'handover', 'status', 'updated'], 'status', { required: true }),
    outputs: ports(1),
  },
});

export const API_FULFIL = nodeSettings<ApiFulfilConfig>()({
  type: 'api-fulfil',
  settings: {
    name: text(),
    store: configNode('fabric-store'),
    kantata: configNode('kantata-config'),
    mode: choice(['timeentry', 'project', 'invoiced', 'blocked'], 'timeentry', { required: true }),
  },
});
