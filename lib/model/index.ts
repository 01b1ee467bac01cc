/** The canonical model: schemas + validation, CloudEvents envelope, topic taxonomy, JSONata mappings, safe input. */
export * from './entities';
export * from './validator';
export * from './envelope';
export * from './topics';
export * from './mapping';
export * from './safe-json';
