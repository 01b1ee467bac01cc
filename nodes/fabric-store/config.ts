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
