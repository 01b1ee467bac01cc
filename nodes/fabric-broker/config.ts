/** The settings of a `fabric-broker` node (its editor dialog), as the node and the template builders (templates/) read them. */
export interface BrokerConfig {
  id: string;
  name?: string;
  mode?: 'embedded' | 'url';
  url?: string;
  clientId?: string;
  clean?: boolean;
  protocolVersion?: string | number;
  keepalive?: string | number;
  sharedGroup?: string;
}
