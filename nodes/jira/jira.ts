/**
 * `jira` operation node (nodes/operation-node.ts): createProject / createEpic / createIssue through the outbox
 * (lookup-then-create, so a duplicate trigger creates nothing twice), getIssue / search through `handle.call`.
 * The request is `msg.payload`; fields the dialog sets (project key, issue type) fill what the payload leaves out.
 */
import { JIRA_WRITE_OPERATIONS } from '../../lib/connectors/jira/client';
import type { JiraConnection } from '../connection-config';
import type { NodeAPI } from '../node-red-api';
import { defineOperationNode, type Handler } from '../operation-node';
import { JIRA, JIRA_READS, type JiraDef } from './config';
import { positiveSetting } from '../settings';

export = function (RED: NodeAPI) {
  defineOperationNode<JiraConnection, JiraDef>(RED, {
    ...JIRA,
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
        msg.payload = await c.handle.call(() => c.client.search(String(msg.jql ?? config.jql ?? msg.payload), { limit: positiveSetting(config.limit, JIRA.defaults.limit) }));
      },
    } satisfies Record<(typeof JIRA_READS)[number], Handler<JiraConnection, JiraDef>>,
  });
};
