/** The settings of a `fabric-idempotent` node (its editor dialog), as the node and the template builders (templates/) read them. */
export interface IdempotentConfig {
  id: string;
  name?: string;
  store?: string;
  keySource?: 'envelope' | 'jsonata';
  expression?: string;
  /** Scope of the keys; default `node:<id>`. Two nodes with the same scope share keys. */
  scope?: string;
  /** Hours a key is remembered; empty = the store's retention. */
  retentionHours?: string | number;
  repeats?: 'output' | 'drop';
}
