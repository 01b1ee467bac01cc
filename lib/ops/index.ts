export * from './read-model';
export * from './series';
export * from './console';
export * from './digest';
