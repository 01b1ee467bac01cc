import { nodeSettings, number, text } from '../settings';

/** The settings of a `fabric-store` node (its editor dialog), as the node and the template builders (templates/) read them. */
export interface FabricStoreConfig {
  id: string;
  name?: string;
  kind?: string;
  path?: string;
  retentionDays?: string | number;
  /** PostgreSQL: postgres://host:5432/database (user and password in the node's credentials). */
  url?: string;
  schema?: string;
}

export const FABRIC_STORE = nodeSettings<FabricStoreConfig>()({
  type: 'fabric-store',
  settings: {
    name: text(),
    kind: text<'sqlite' | 'postgres'>('sqlite', { required: true, check: { is: 'oneOf', values: ['sqlite', 'postgres'] } }),
    path: text(),
    url: text('', { check: { is: 'regex', pattern: /^postgres(ql)?:\/\/.+$/, env: true }, when: { setting: 'kind', equals: 'postgres' } }),
    schema: text(),
    retentionDays: number(7, { required: true, positive: true }),
  },
  credentials: { user: { type: 'text' }, password: { type: 'password' } },
});
