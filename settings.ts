/**
 * PS Fabric's Node-RED settings file: `node-red -s dist/settings.js` or `npm start` (runtime/start.ts).
 * Every value comes from an environment variable with a loopback-friendly default; see docs/runtime.md.
 */
import { buildSettings } from './runtime/settings-builder';

export = buildSettings(process.env);
