/** The settings of a `ops-feed` node (its editor dialog), as the node and the template builders (templates/) read them. */
export interface OpsFeedConfig {
  id: string;
  name?: string;
  store?: string;
  ownership?: string;
  interval?: string | number;
  slaHours?: string | number;
  windowDays?: string | number;
  digestMinutes?: string | number;
  dashboardUrl?: string;
}
