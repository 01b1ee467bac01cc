/** The settings of a `fabric-exception` node (its editor dialog), as the node and the template builders (templates/) read them. */
export interface ExceptionConfig {
  id: string;
  name?: string;
  store?: string;
  process?: string;
  step?: string;
  owner?: string;
  errorClass?: string;
  message?: string;
  replay?: boolean;
}
