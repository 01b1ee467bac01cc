// The Node-RED API shapes the fabric-store config node uses: the shared ones (nodes/node-red-api.ts).
export * from '../node-red-api';
