/**
 * `jira` operation node (nodes/operation-node.ts): createProject / createEpic / createIssue through the outbox
 * (lookup-then-create, so a duplicate trigger creates nothing twice), getIssue / search through `handle.call`.
 * The request is `msg.payload`; fields the dialog sets (project key, issue type) fill what the payload leaves out.
 */
import { JIRA_WRITE_OPERATIONS } from '../../lib/connectors/jira/client';
import type { JiraConnection } from '../connection-config';
import type { NodeAPI } from '../node-red-api';
import { defineOperationNode, type OperationNodeDef } from '../operation-node';

interface JiraDef extends OperationNodeDef {
  jira?: string;
  projectKey?: string;
  issueType?: string;
  jql?: string;
  limit?: string | number;
}

export = function (RED: NodeAPI) {
  defineOperationNode<JiraConnection, JiraDef>(RED, {
    type: 'jira',
    connection: 'jira',
    resultProperty: 'jira',
    writes: JIRA_WRITE_OPERATIONS,
    writeRequest(operation, msg, { config }) {
      const request = { ...(msg.payload ?? {}) };
      if (config.projectKey && request.projectKey === undefined && operation !== 'createProject') request.projectKey = config.projectKey;
      if (config.issueType && request.issueType === undefined && operation === 'createIssue') request.issueType = config.issueType;
      return { request };
    },
    reads: {
      async getIssue(msg, { connected }) {
        const c = connected();
        msg.payload = await c.handle.call(() => c.client.getIssue(String(msg.key ?? msg.payload?.key ?? msg.payload)));
      },
      async search(msg, { config, connected }) {
        const c = connected();
        msg.payload = await c.handle.call(() => c.client.search(String(msg.jql ?? config.jql ?? msg.payload), { limit: Number(config.limit) || 1000 }));
      },
    },
  });
};
