export { LeaseElection, instanceOwner, type LeaseElectionOptions } from './lease';
