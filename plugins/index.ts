// The public surface of plugins/: the contracts, the registry, and the built-in plugins. The
// daemon builds one registry at start (builtinPlugins()) and asks it for the plugins its
// configuration names; a new plugin is one factory registered here.
import { natsEventSinkPlugin } from './event-sinks/nats';
import { httpNotifierPlugin } from './notifiers/http';
import { PluginRegistry } from './contracts/registry';

export * from './contracts/contracts';
export { PluginError, PluginRegistry, type Selected } from './contracts/registry';
export { subjectFor } from './event-sinks/nats';

/**
 * A registry with every built-in plugin: notifier `http` (webhooks) and event sink `nats`
 * (JetStream). Metric collectors, backup targets and app runtimes have their slots (kinds) but
 * no plugin yet.
 */
export function builtinPlugins(): PluginRegistry {
  return new PluginRegistry().register(httpNotifierPlugin).register(natsEventSinkPlugin);
}
