/** PS Fabric governance: ownership matrix, API consumers, the API gate, OpenAPI, versioning, admin auth. */
export * from './ownership';
export * from './consumers';
export * from './jwt';
export * from './rate-limit';
export * from './security';
export * from './resources';
export * from './versioning';
export * from './api-gate';
export * from './validation';
export * from './openapi';
export * from './admin-auth';
export * from './bus-sources';
