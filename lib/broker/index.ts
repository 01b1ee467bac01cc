export * from './broker';
export * from './acl';
export * from './registry';
export { FrameScanner, PacketTooLargeError, guardPacketSize } from './frame-guard';
export { brokerOptionsFromEnv } from './env';
export * from './connection';
export * from './message-id';
