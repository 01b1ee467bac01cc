/**
 * Dashboard 2 plugin `psf-dashboard-access`: what a dashboard user may do from the browser.
 *
 * The socket.io middleware of the runtime (runtime/admin-access.ts) refuses sockets without a session when a login
 * is configured and records the user on the socket (`socket.data.psfUser`). Here, every message a widget sends is
 * stripped of a browser-chosen identity (`actor`, `_client`), given the socket's user (`_client.user`, so the
 * exception queue's history and the audit trail name them) and authorised: the console's changing commands
 * (replay, edit & replay, discard, bulk replay) need `ps-fabric.write` (operator), everything else
 * `ps-fabric.read` (viewer). Refusals are dropped, audited, and answered to that browser only (`topic: 'refused'`).
 *
 * Without the PS Fabric settings (a plain Node-RED) no user is recorded on sockets and nothing is refused here.
 */
import { auditAccess, dashboardPermissionFor, hasPermission, type Permissions } from '../../lib/governance/admin-access';

interface SocketLike {
  id?: string;
  data?: { psfUser?: { username?: string; permissions: Permissions } };
  handshake?: { address?: string };
  emit?(event: string, ...args: unknown[]): void;
}

type Msg = Record<string, unknown> | null | undefined;

interface PluginAPI {
  plugins: { registerPlugin(id: string, definition: Record<string, unknown>): void };
  log?: { warn(msg: string): void };
}

export = function (RED: PluginAPI) {
  const userOf = (conn: SocketLike) => conn?.data?.psfUser;

  /** The message with the socket's identity in place of anything the browser claimed, or null when refused. */
  function gate(conn: SocketLike, widgetId: string, msg: Msg, fromTemplate: boolean): Msg {
    const user = userOf(conn);
    if (msg && typeof msg === 'object') {
      delete msg.actor;
      msg._client = user ? { user: { username: user.username, permissions: user.permissions } } : {};
    }
    if (!user) return msg; // not behind the PS Fabric settings
    const topic = msg && typeof msg === 'object' ? msg.topic : undefined;
    const needed = dashboardPermissionFor(topic, fromTemplate);
    if (hasPermission(user.permissions, needed)) return msg;
    auditAccess({
      actor: user.username ? `dashboard:${user.username}` : 'dashboard',
      action: 'dashboard.command.refused',
      details: { widget: String(widgetId).slice(0, 64), topic: typeof topic === 'string' ? topic.slice(0, 64) : null, needed, ip: conn.handshake?.address ?? null },
    });
    // tell that browser (only) why nothing happened; the exception console shows it (flows/dashboard.json)
    const what = typeof topic === 'string' ? topic.slice(0, 40) : 'this';
    conn.emit?.(`msg-input:${widgetId}`, { topic: 'refused', payload: `${what} needs an operator: ${user.username ?? 'this user'} may only look` });
    return null;
  }

  RED.plugins.registerPlugin('psf-dashboard-access', {
    type: 'node-red-dashboard-2',
    hooks: {
      onSend: (conn: SocketLike, id: string, msg: Msg) => gate(conn, id, msg, true),
      onAction: (conn: SocketLike, id: string, msg: Msg) => gate(conn, id, msg, false),
      onChange: (conn: SocketLike, id: string, msg: Msg) => gate(conn, id, msg, false),
      onAddConnectionCredentials: (conn: SocketLike, msg: Record<string, unknown>) => {
        const user = userOf(conn);
        if (user) msg._client = { ...(msg._client as object), user: { username: user.username, permissions: user.permissions } };
        return msg;
      },
    },
  });
};
