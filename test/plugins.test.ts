// The plugin registry and contracts (plugins/): lookup by kind and name, selection by a
// configuration field (unknown name → an error naming the field; a plugin whose required
// setting is unset → off), the nats sink's subject mapping, and the admin refusing to start on
// a bad selection or bad NATS settings, naming the setting.
import t from 'tap';
import { builtinPlugins, PluginRegistry, PLUGIN_KINDS, subjectFor, type EventSink, type PluginFactory } from '../plugins';
import { filterCovers } from '../plugins/event-sinks/nats';
import { AGENT_OFF, startInProc } from './helpers/daemon';

t.test('the built-in registry: notifier http, event sink nats, empty slots for the other kinds', async (t) => {
  const r = builtinPlugins();
  t.same(r.names('notifier'), ['http']);
  t.same(r.names('event-sink'), ['nats']);
  for (const k of PLUGIN_KINDS.filter((k) => k !== 'notifier' && k !== 'event-sink')) t.same(r.names(k), [], `${k}: a slot, no plugin yet`);
  t.throws(() => r.get('event-sink', 'kafka', 'admin.event_sinks'), { code: 'PLUGIN_UNKNOWN', message: 'admin.event_sinks: unknown event-sink plugin "kafka" (known: nats)' });
  t.throws(() => r.get('backup-target', 's3', 'backup.target'), { code: 'PLUGIN_UNKNOWN', message: /backup\.target: unknown backup-target plugin "s3" \(known: none\)/ });
  t.throws(() => r.get('event-sink', '__proto__', 'admin.event_sinks'), { code: 'PLUGIN_UNKNOWN' }, 'no prototype keys');
});

t.test('select: listed names in order, repeats and blanks dropped, unset required settings → off', async (t) => {
  const r = builtinPlugins();
  const none = r.select('event-sink', ' nats, ,nats', 'admin.event_sinks', () => undefined);
  t.same(none.active, []);
  t.same(none.off, [{ name: 'nats', missing: 'admin.nats_url' }]);
  const on = r.select('event-sink', 'nats', 'admin.event_sinks', (k) => (k === 'admin.nats_url' ? 'nats://127.0.0.1:1' : undefined));
  t.same(on.active.map((f) => f.name), ['nats']);
  t.throws(() => r.select('event-sink', 'nats,bogus', 'admin.event_sinks', () => 'x'), { code: 'PLUGIN_UNKNOWN', message: /^admin\.event_sinks: unknown event-sink plugin "bogus"/ });
});

t.test('register: a second plugin of the same kind and name, a bad name or kind is refused', async (t) => {
  const sink = (): EventSink => ({ kind: 'x', publish: async () => ({ accepted: 0, duplicates: 0, error: null }), close: async () => undefined });
  const r = new PluginRegistry().register({ kind: 'event-sink', name: 'memory', summary: 'test', create: sink });
  t.throws(() => r.register({ kind: 'event-sink', name: 'memory', summary: 'again', create: sink }), { code: 'PLUGIN_DUPLICATE' });
  t.throws(() => r.register({ kind: 'event-sink', name: 'Bad Name', summary: '', create: sink }), { code: 'PLUGIN_INVALID' });
  t.throws(() => r.register({ kind: 'queue', name: 'q', summary: '', create: sink } as unknown as PluginFactory), { code: 'PLUGIN_INVALID' });
  t.same(r.names('event-sink'), ['memory']);
  t.equal(r.create('event-sink', 'memory', 'test.field', { setting: () => undefined }).kind, 'x');
});

t.test('subjects: <prefix>.<type tokens>; characters outside [A-Za-z0-9_-] and empty tokens become _', async (t) => {
  t.equal(subjectFor('outpost.events', 'edge.node.registered'), 'outpost.events.edge.node.registered');
  t.equal(subjectFor('p', 'edge.command_execution.completed'), 'p.edge.command_execution.completed');
  t.equal(subjectFor('p', 'a..b c*>.'), 'p.a._.b_c__._');
  t.ok(filterCovers('outpost.events.>', 'outpost.events.>'));
  t.ok(filterCovers('outpost.>', 'outpost.events.>'));
  t.ok(filterCovers('>', 'outpost.events.>'));
  t.ok(filterCovers('outpost.*.>', 'outpost.events.>'));
  t.notOk(filterCovers('outpost.events.*', 'outpost.events.>'), 'one token does not capture every subject below');
  t.notOk(filterCovers('outpost.events', 'outpost.events.>'));
  t.notOk(filterCovers('other.>', 'outpost.events.>'));
});

t.test('the admin refuses to start on an unknown event sink or bad NATS settings, naming the setting', async (t) => {
  const start = (env: Record<string, string>) => startInProc(t, ['--admin', 'true', '--admin-port', '0', ...AGENT_OFF], env);
  await t.rejects(start({ EVENT_SINKS: 'nats,kafka' }), { code: 'PLUGIN_UNKNOWN', message: /admin\.event_sinks: unknown event-sink plugin "kafka" \(known: nats\)/ });
  await t.rejects(start({ NATS_URL: 'nats://127.0.0.1:1', NATS_SUBJECT_PREFIX: 'outpost.>' }), { code: 'PLUGIN_INVALID', message: /^admin\.nats_subject_prefix: / });
  await t.rejects(start({ NATS_URL: 'nats://127.0.0.1:1', NATS_STREAM: 'a.b' }), { code: 'PLUGIN_INVALID', message: /^admin\.nats_stream: / });
  // No NATS_URL: the listed nats sink stays off and the admin runs.
  const { daemon } = await start({});
  t.same(daemon.admin!.eventSinks.stats(), []);
});
