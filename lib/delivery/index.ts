export * from './types';
export * from './errors';
export { DeliveryEngine, deliveryFor, DEFAULT_LIMITS, DeliveryClosedError } from './engine';
export type { Completion, CompletionListener, ConnectionOptions, DeliveryEngineOptions, ExtendedLimits } from './engine';
export type { DeliveryServices, ExceptionSink, AuditSink, OutboxReplayer, OutboxReplayTarget } from './services';
export { httpExecutor } from './http-executor';
export type { HttpExecutorOptions, HttpRequestSpec } from './http-executor';
export { fullJitterDelay, retryDelay } from './backoff';
export { ConnectionGate, GatePausedError, attachGateToAxios } from './request-gate';
