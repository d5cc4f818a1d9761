import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { type DataPoint, MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { openTelemetry } from "../../src/opentelemetry/index.ts";

/** A metric reader that collects when asked: what a Prometheus scrape does. */
class PullReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** One data point of a collection: the metric's name and unit, the point's attributes and value. */
export interface Point {
  name: string;
  unit: string;
  attributes: Record<string, unknown>;
  value: unknown;
}

/**
 * The real OpenTelemetry SDK in memory: a meter provider read on demand
 * and a tracer provider whose spans are kept, wired into `openTelemetry()`.
 */
export function createTestTelemetry(options: { recordKeys?: boolean } = {}) {
  const reader = new PullReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const telemetry = openTelemetry({
    meterProvider,
    tracerProvider,
    propagator: new W3CTraceContextPropagator(),
    ...options,
  });
  return {
    telemetry,
    /** Every data point now. */
    async collect(): Promise<Point[]> {
      const { resourceMetrics } = await reader.collect();
      return resourceMetrics.scopeMetrics.flatMap((scope) =>
        scope.metrics.flatMap((metric) =>
          (metric.dataPoints as DataPoint<unknown>[]).map((point) => ({
            name: metric.descriptor.name,
            unit: metric.descriptor.unit,
            attributes: { ...point.attributes },
            value: point.value,
          })),
        ),
      );
    },
    /** The value of metric `name` whose attributes include `attributes`; `undefined` when none. */
    async value(name: string, attributes: Record<string, unknown> = {}): Promise<unknown> {
      const points = await this.collect();
      return points.find((p) => p.name === name && Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))
        ?.value;
    },
    spans(): ReadableSpan[] {
      return exporter.getFinishedSpans();
    },
    async close(): Promise<void> {
      await Promise.all([meterProvider.shutdown(), tracerProvider.shutdown()]);
    },
  };
}
