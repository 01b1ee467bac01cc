export { LeaseElection, instanceOwner, type LeaseElectionOptions } from './lease';
export { InstancePresence, presenceOf, resolveInstanceId, heartbeatFromEnv, INSTANCE_ID_FILE, DEFAULT_HEARTBEAT_MS, DEAD_AFTER_BEATS, type InstancePresenceOptions } from './instance';
