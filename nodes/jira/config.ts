import { JIRA_WRITE_OPERATIONS } from '../../lib/connectors/jira/client';
import type { OperationNodeDef } from '../operation-node';
import { configNode, nodeSettings, number, text } from '../settings';

/** The settings of a `jira` node (its editor dialog). */
export interface JiraDef extends OperationNodeDef {
  jira?: string;
  projectKey?: string;
  issueType?: string;
  jql?: string;
  limit?: string | number;
}

/** The reads of the node (jira.ts has a handler for each). */
export const JIRA_READS = ['getIssue', 'search'] as const;

export const JIRA = nodeSettings<JiraDef>()({
  type: 'jira',
  settings: {
    name: text(),
    jira: configNode('jira-config'),
    operation: text('createEpic'),
    projectKey: text(),
    issueType: text('Task'),
    jql: text(),
    limit: number(1000),
  },
  operations: { setting: 'operation', values: [...JIRA_WRITE_OPERATIONS, ...JIRA_READS, 'msg'] },
});
