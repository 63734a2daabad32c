// The plugin contracts in one place: each kind of extension point, the interface a plugin of
// that kind implements, and what its factory is handed to build one. The interfaces and their
// promises (at-least-once, idempotency keys, close semantics) are documented next to each in
// <kind>/types.ts and summed up in plugins/README.md. Plugins depend on nothing in daemon/:
// what they need from the daemon (settings, a logger, a dial guard) comes in the context.
import type { AppRuntime } from './app-runtime';
import type { BackupTarget } from './backup-target';
import type { EventSink } from './event-sink';
import type { MetricCollector } from './metric-collector';
import type { DialGuard, Notifier } from './notifier';

export type * from './app-runtime';
export type * from './backup-target';
export type * from './event-sink';
export type * from './metric-collector';
export type * from './notifier';
export { DialDenied } from './notifier';

/** The logger a plugin gets (pino's shape, so the daemon passes a child logger as is). */
export interface PluginLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** What every factory gets: the daemon's settings (dotted keys of daemon/config.ts FIELDS) and a logger. */
export interface PluginContext {
  /** The value of a setting, e.g. setting('admin.nats_url'); undefined when unset. */
  setting(key: string): unknown;
  log?: PluginLog;
}

/** Notifiers also get the egress guard every outbound dial goes through, and the User-Agent to send. */
export interface NotifierContext extends PluginContext {
  guard: DialGuard;
  userAgent: string;
}

/** Each kind: the plugin interface and its factory's context. */
export interface PluginKinds {
  notifier: { plugin: Notifier; context: NotifierContext };
  'event-sink': { plugin: EventSink; context: PluginContext };
  'metric-collector': { plugin: MetricCollector; context: PluginContext };
  'backup-target': { plugin: BackupTarget; context: PluginContext };
  'app-runtime': { plugin: AppRuntime; context: PluginContext };
}

export type PluginKind = keyof PluginKinds;
export const PLUGIN_KINDS: readonly PluginKind[] = ['notifier', 'event-sink', 'metric-collector', 'backup-target', 'app-runtime'];

export interface PluginFactory<K extends PluginKind = PluginKind> {
  kind: K;
  /** Unique within its kind; what configuration names (e.g. admin.event_sinks = "nats"). */
  name: string;
  /** One line for logs and docs. */
  summary: string;
  /**
   * Settings that must be set for the plugin to run (e.g. admin.nats_url). A plugin selected by
   * configuration but missing one of them stays off, and the registry says which setting is unset.
   */
  requires?: readonly string[];
  /** Builds the plugin; throws (with a `code`) when its settings are invalid, naming the setting. */
  create(ctx: PluginKinds[K]['context']): PluginKinds[K]['plugin'];
}
