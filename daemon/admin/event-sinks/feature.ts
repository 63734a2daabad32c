// Wiring for the event sinks: admin.event_sinks names the sinks (plugin registry, kind
// `event-sink`); each listed sink whose required settings are set gets a relay over the outbox
// with its own durable cursor. An unknown name stops the start with an error naming
// admin.event_sinks. The admin starts them after the store is open, wakes them with the webhook
// dispatcher after every commit that wrote events, reports stats() in its metrics, and closes
// them before the store.
import type { PluginRegistry } from '../../../plugins';
import { getPath, type Config } from '../../config/config';
import type { Logger } from '../../base/log';
import type { AdminStore } from '../store/db';
import { SinkOutbox } from './outbox';
import type { SinkStats } from '../api/context';
import { SinkRelay, type RelayOptions } from './relay';

export const EVENT_SINKS_FIELD = 'admin.event_sinks';

export interface EventSinks {
  relays: SinkRelay[];
  start(): void;
  wake(): void;
  stats(): SinkStats[];
  close(): Promise<void>;
}

export type RelayTuning = Partial<Pick<RelayOptions, 'batch' | 'pollMs' | 'retryBaseMs' | 'retryMaxMs'>>;

/** Builds (does not start) the sinks the configuration selects. Throws PLUGIN_UNKNOWN / PLUGIN_INVALID naming the setting. */
export function createEventSinks(cfg: Config, deps: { store: AdminStore; plugins: PluginRegistry; adminId: string; log: Logger; tuning?: RelayTuning }): EventSinks {
  const setting = (key: string) => getPath(cfg, key);
  const { active, off } = deps.plugins.select('event-sink', cfg.admin.event_sinks, EVENT_SINKS_FIELD, setting);
  for (const o of off) deps.log.debug({ sink: o.name, missing: o.missing }, `event sink ${o.name} is off: ${o.missing} is not set`);
  const outbox = new SinkOutbox(deps.store.db, deps.store.dialect);
  const relays: SinkRelay[] = [];
  try {
    for (const f of active) {
      const log = deps.log.child({ sink: f.name });
      const sink = f.create({ setting, log });
      relays.push(new SinkRelay({ name: f.name, sink, outbox, source: `/outpost/admin/${deps.adminId}`, log: deps.log, ...deps.tuning }));
      deps.log.info({ sink: f.name, summary: f.summary }, `event sink ${f.name} on`);
    }
  } catch (err) {
    for (const r of relays) void r.close();
    throw err;
  }
  return {
    relays,
    start: () => { for (const r of relays) r.start(); },
    wake: () => { for (const r of relays) r.wake(); },
    stats: () => relays.map((r) => r.stats()),
    close: async () => { await Promise.all(relays.map((r) => r.close())); },
  };
}

