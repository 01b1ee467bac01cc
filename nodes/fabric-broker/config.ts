import { choice, flag, nodeSettings, number, text } from '../settings';

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

export const FABRIC_BROKER = nodeSettings<BrokerConfig>()({
  type: 'fabric-broker',
  settings: {
    name: text(),
    mode: choice(['embedded', 'url'], 'embedded', { required: true }),
    url: text('', { check: { is: 'regex', pattern: /^(mqtts?|wss?|tcp|ssl):\/\/.+$/, env: true }, when: { setting: 'mode', equals: 'url' } }),
    clientId: text(),
    clean: flag(false),
    protocolVersion: text('4'),
    keepalive: number(60),
    // a shared subscription group name: no topic separators or wildcards
    sharedGroup: text('', { check: { is: 'regex', pattern: /^[^/#+]+$/, blank: true } }),
  },
  credentials: { username: { type: 'text' }, password: { type: 'password' } },
});
