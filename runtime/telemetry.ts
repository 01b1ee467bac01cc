/**
 * The OpenTelemetry SDK of the launcher: a NodeTracerProvider with a batching OTLP/HTTP (JSON) trace exporter,
 * configured by the standard `OTEL_*` variables (docs/runtime.md) and OFF unless they ask for it: with no exporter
 * endpoint and no `OTEL_TRACES_EXPORTER`, nothing is registered and lib/telemetry stays on its no-op path.
 * lib/ and nodes/ use only @opentelemetry/api (lib/telemetry); only this file knows the SDK.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ConsoleSpanExporter, NodeTracerProvider, SimpleSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-node';
import { setTracingEnabled } from '../lib/telemetry';

export interface RunningTelemetry {
  /** Where spans go (for the start banner): the OTLP URL and/or `console`. */
  readonly exporters: string[];
  /** Exports every span ended so far. */
  flush(): Promise<void>;
  /** Flushes, stops recording and unregisters the SDK (a later start registers a new one). */
  shutdown(): Promise<void>;
}

const SUPPORTED_PROTOCOL = 'http/json';

/**
 * Whether the environment turns tracing on: `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn it off;
 * otherwise an `OTEL_TRACES_EXPORTER` (otlp, console) or an OTLP endpoint turns it on. Throws on a value PS Fabric
 * cannot honour (an unknown exporter, a protocol other than http/json), so a typo does not silently lose traces.
 */
export function telemetryConfig(env: NodeJS.ProcessEnv): { otlpUrl?: string; console: boolean } | undefined {
  if (String(env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return undefined;
  const endpoint = (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '').trim() || ((env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '').trim() ? `${env.OTEL_EXPORTER_OTLP_ENDPOINT!.trim().replace(/\/+$/, '')}/v1/traces` : '');
  const listed = String(env.OTEL_TRACES_EXPORTER ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (listed.includes('none')) return undefined;
  for (const name of listed) {
    if (name !== 'otlp' && name !== 'console') throw new Error(`OTEL_TRACES_EXPORTER: ${JSON.stringify(name)} is not supported (use otlp, console or none)`);
  }
  const wantsOtlp = listed.includes('otlp') || (listed.length === 0 && endpoint !== '');
  if (!wantsOtlp && !listed.includes('console')) return undefined;
  const protocol = String(env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? SUPPORTED_PROTOCOL).trim().toLowerCase();
  if (wantsOtlp && protocol !== SUPPORTED_PROTOCOL) {
    throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not supported: PS Fabric exports traces as OTLP/HTTP JSON (set it to ${SUPPORTED_PROTOCOL}, or unset it)`);
  }
  const otlpUrl = wantsOtlp ? endpoint || 'http://localhost:4318/v1/traces' : undefined;
  if (otlpUrl && !/^https?:\/\//i.test(otlpUrl)) throw new Error(`OTEL_EXPORTER_OTLP_ENDPOINT: ${JSON.stringify(otlpUrl)} is not an http(s) URL`);
  return { ...(otlpUrl ? { otlpUrl } : {}), console: listed.includes('console') };
}

/** Starts the SDK when the environment asks for it (see telemetryConfig); undefined when tracing stays off. */
export function startTelemetry(env: NodeJS.ProcessEnv = process.env, serviceVersion?: string): RunningTelemetry | undefined {
  const cfg = telemetryConfig(env);
  if (!cfg) return undefined;
  const processors: SpanProcessor[] = [];
  if (cfg.otlpUrl) processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: cfg.otlpUrl })));
  if (cfg.console) processors.push(new SimpleSpanProcessor(new ConsoleSpanExporter()));
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (envDetector, read from process.env) win over the defaults
  const resource = resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME?.trim() || 'ps-fabric', ...(serviceVersion ? { 'service.version': serviceVersion } : {}) }).merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: processors });
  provider.register();
  setTracingEnabled(true);
  let stopped = false;
  return {
    exporters: [...(cfg.otlpUrl ? [cfg.otlpUrl] : []), ...(cfg.console ? ['console'] : [])],
    flush: () => provider.forceFlush(),
    async shutdown() {
      if (stopped) return;
      stopped = true;
      setTracingEnabled(false);
      await provider.shutdown().catch(() => undefined);
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
