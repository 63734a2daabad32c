// Prometheus exposition shared by both roles: the text writer, HTTP request histograms and the
// process families. Roles render their own families into one PromText per scrape.
export { PromText, PROM_CONTENT_TYPE, escapeHelp, escapeLabel, promName, type Labels, type Sample, type HistogramSeries } from './text';
export { HttpMetrics, LATENCY_BOUNDS, STATUS_CLASSES } from './http';
export { processMetrics, renderBuildInfo, type BuildInfo } from './process';
