/**
 * The real OpenTelemetry SDK for a test, recording into memory: registered as the global tracer provider and
 * lib/telemetry switched on, as runtime/telemetry.ts does with an OTLP exporter; `stop()` undoes both.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { setTracingEnabled } from '../../lib/telemetry';

export interface TestTracing {
  spans(): ReadableSpan[];
  stop(): Promise<void>;
}

export function startTestTracing(): TestTracing {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  provider.register();
  setTracingEnabled(true);
  return {
    spans: () => exporter.getFinishedSpans(),
    async stop() {
      setTracingEnabled(false);
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
