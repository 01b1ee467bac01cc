"""Shared pieces of the template generator: the config nodes, tabs, groups, link pairs, exception nodes."""
import json, os


def cfg():
    return [
        {"id": "psf-store", "type": "fabric-store", "name": "PS Fabric store", "kind": "sqlite", "path": "", "retentionDays": 7},
        {"id": "psf-broker", "type": "fabric-broker", "name": "PS Fabric broker", "mode": "embedded", "url": "", "clientId": "", "clean": False, "protocolVersion": "4", "keepalive": 60},
        {"id": "psf-ownership", "type": "ownership-config", "name": "PS Fabric ownership", "source": "default", "matrix": ""},
        {"id": "psf-salesforce", "type": "salesforce-config", "name": "Salesforce", "loginUrl": "${FABRIC_SALESFORCE_URL}", "instanceUrl": "", "apiVersion": "62.0", "authType": "client-credentials", "audience": "", "store": "psf-store", "ratePerSecond": 20, "concurrency": 10, "maxAttempts": 8},
        {"id": "psf-netsuite", "type": "netsuite-config", "name": "NetSuite (NWA-US)", "accountId": "${FABRIC_NETSUITE_ACCOUNT}", "baseUrl": "${FABRIC_NETSUITE_URL}", "authType": "oauth2-m2m", "algorithm": "PS256", "tables": "", "store": "psf-store", "ratePerSecond": 5, "concurrency": 5, "maxAttempts": 8, "timeoutMs": 60000},
        {"id": "psf-bc-uk", "type": "business-central-config", "name": "Business Central (NWA UK)", "tenantId": "${FABRIC_BC_TENANT}", "environment": "${FABRIC_BC_ENVIRONMENT}", "company": "NWA UK", "baseUrl": "${FABRIC_BC_URL}", "tokenUrl": "${FABRIC_BC_TOKEN_URL}", "scope": "", "tables": "", "numbering": "series", "projectTaskNumber": "1000", "webServices": "", "store": "psf-store", "ratePerSecond": 5, "concurrency": 5, "maxAttempts": 8, "timeoutMs": 60000},
        {"id": "psf-bc-de", "type": "business-central-config", "name": "Business Central (NWA DE)", "tenantId": "${FABRIC_BC_TENANT}", "environment": "${FABRIC_BC_ENVIRONMENT}", "company": "NWA DE", "baseUrl": "${FABRIC_BC_URL}", "tokenUrl": "${FABRIC_BC_TOKEN_URL}", "scope": "", "tables": "", "numbering": "series", "projectTaskNumber": "1000", "webServices": "", "store": "psf-store", "ratePerSecond": 5, "concurrency": 5, "maxAttempts": 8, "timeoutMs": 60000},
        {"id": "psf-kantata", "type": "kantata-config", "name": "Kantata PSA", "authType": "token", "baseUrl": "${FABRIC_KANTATA_URL}", "tokenUrl": "", "store": "psf-store", "ratePerSecond": 10, "concurrency": 4, "maxAttempts": 8, "timeoutMs": 30000},
        {"id": "psf-legacy-fr01", "type": "legacy-erp-config", "name": "FR01", "company": "FR01", "url": "", "store": "psf-store", "ackTimeoutMs": 15000, "ratePerSecond": 20, "concurrency": 10, "maxAttempts": 8},
        {"id": "psf-jira", "type": "jira-config", "name": "Jira", "baseUrl": "${FABRIC_JIRA_URL}", "authType": "basic", "store": "psf-store", "ratePerSecond": 5, "concurrency": 2, "maxAttempts": 8, "timeoutMs": 30000},
    ]

class Tab:
    def __init__(self, tid, label, info):
        self.tid = tid
        self.nodes = [{"id": tid, "type": "tab", "label": label, "disabled": False, "info": info}]
        self.groups = {}
    def group(self, gid, name, x, y, w, h, color):
        g = {"id": gid, "type": "group", "z": self.tid, "name": name, "style": {"fill": color, "label": True, "fill-opacity": "0.35"}, "nodes": [], "x": x, "y": y, "w": w, "h": h}
        self.groups[gid] = g
        self.nodes.append(g)
        return gid
    def add(self, nid, ntype, x, y, g=None, wires=None, **props):
        n = {"id": nid, "type": ntype, "z": self.tid, "x": x, "y": y}
        if g:
            n["g"] = g
            self.groups[g]["nodes"].append(nid)
        n.update(props)
        if ntype not in ("comment", "link in", "catch", "group") or wires is not None:
            if ntype not in ("comment",):
                n["wires"] = wires if wires is not None else [[]]
        if ntype == "link in" and "wires" not in n:
            n["wires"] = wires if wires is not None else [[]]
        if ntype == "catch" and "wires" not in n:
            n["wires"] = wires or [[]]
        self.nodes.append(n)
        return nid
    def comment(self, nid, x, y, g, name, info=""):
        # x is the node's centre: keep a long comment's left edge inside its group, or the editor grows the group to
        # negative x and the tab opens with the group's left side cut off
        if g:
            half = (len(name) * 7 + 50) // 2
            x = max(x, self.groups[g]["x"] + 20 + half)
        return self.add(nid, "comment", x, y, g, name=name, info=info)

def link(tab, out_id, in_id, xo, yo, xi, yi, go, gi, name):
    tab.add(out_id, "link out", xo, yo, go, name=name, mode="link", links=[in_id])
    tab.add(in_id, "link in", xi, yi, gi, name=name, links=[out_id], wires=[[]])

def exc(tab, nid, x, y, g, process, step, owner, error_class="permanent", replay=False, wires=None):
    return tab.add(nid, "fabric-exception", x, y, g, wires=wires or ([[], []] if True else None), name=f"exception: {owner or 'owner from matrix'}", store="psf-store", process=process, step=step, owner=owner, errorClass=error_class, message="", replay=replay, outputs=2)
