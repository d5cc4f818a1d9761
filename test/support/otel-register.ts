/**
 * Registers the real OpenTelemetry SDK as the global providers of a peer
 * process, as an application does with `node --import ./instrumentation.ts`:
 * then `startPeer`'s default telemetry (the global providers) reports to
 * it. Metrics are served in Prometheus format on 127.0.0.1:0, spans
 * appended as JSON lines; where to find both is written to
 * `$GROUPCACHE_OTEL_DIR/<pid>.json`. For test/observability-processes.test.ts.
 */
import { appendFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import process from "node:process";
import { context, metrics, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { ExportResultCode, W3CTraceContextPropagator } from "@opentelemetry/core";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { type ReadableSpan, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";

const dir = process.env.GROUPCACHE_OTEL_DIR;
if (dir === undefined) throw new Error("set GROUPCACHE_OTEL_DIR");
const spansFile = join(dir, `${process.pid}.spans.jsonl`);
writeFileSync(spansFile, "");

const prometheus = new PrometheusExporter({ preventServerStart: true });
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [prometheus] }));
const spanExporter = {
  export(spans: ReadableSpan[], done: (result: { code: ExportResultCode }) => void) {
    const lines = spans.map((s) =>
      JSON.stringify({
        name: s.name,
        kind: s.kind,
        traceId: s.spanContext().traceId,
        spanId: s.spanContext().spanId,
        parentSpanId: s.parentSpanContext?.spanId,
        attributes: s.attributes,
      }),
    );
    appendFileSync(spansFile, lines.map((line) => `${line}\n`).join(""));
    done({ code: ExportResultCode.SUCCESS });
  },
  shutdown: async () => {},
};
trace.setGlobalTracerProvider(
  new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spanExporter })] }),
);
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

const server = createServer((req, res) => prometheus.getMetricsRequestHandler(req, res));
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
server.unref();
const address = server.address();
const metricsPort = typeof address === "object" && address !== null ? address.port : 0;
writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify({ metricsPort, spansFile }));
