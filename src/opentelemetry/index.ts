/**
 * `groupcache/opentelemetry`: metrics and traces of a cache through the
 * OpenTelemetry API (`@opentelemetry/api`, an optional peer dependency
 * that this entry point alone imports).
 */
export { instrumentationName, type OpenTelemetryOptions, openTelemetry } from "./open-telemetry.ts";
