export * from './broker';
export * from './acl';
export * from './registry';
export { FrameScanner, PacketTooLargeError, guardPacketSize } from './frame-guard';
export { brokerOptionsFromEnv, brokerThreadFromEnv, maxLoopDelayFromEnv } from './env';
export * from './connection';
export * from './message-id';
export { startBrokerThread, type ThreadedBroker } from './broker-thread';
export * from './event-loop-gate';
