// The plugin registry: factories registered by kind and name, looked up by the names a
// configuration field lists. An unknown name is a start-up error that names the field and the
// known names; a known plugin whose required settings are unset is reported as off (not an
// error: e.g. the nats event sink without admin.nats_url). Names are kept in Maps (no prototype
// keys from configuration input).
import { PLUGIN_KINDS, type PluginFactory, type PluginKind, type PluginKinds } from './contracts';

export class PluginError extends Error {
  constructor(readonly code: 'PLUGIN_UNKNOWN' | 'PLUGIN_DUPLICATE' | 'PLUGIN_INVALID', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PluginError';
  }
}

export interface Selected<K extends PluginKind> {
  /** Plugins to build, in the order the field lists them. */
  active: Array<PluginFactory<K>>;
  /** Listed plugins that stay off, each with the setting it misses. */
  off: Array<{ name: string; missing: string }>;
}

export class PluginRegistry {
  private readonly byKind = new Map<PluginKind, Map<string, PluginFactory>>(PLUGIN_KINDS.map((k) => [k, new Map()]));

  register<K extends PluginKind>(f: PluginFactory<K>): this {
    const slot = this.byKind.get(f.kind);
    if (!slot) throw new PluginError('PLUGIN_INVALID', `unknown plugin kind ${JSON.stringify(f.kind)} (kinds: ${PLUGIN_KINDS.join(', ')})`);
    if (!/^[a-z][a-z0-9-]*$/.test(f.name)) throw new PluginError('PLUGIN_INVALID', `${f.kind} plugin name ${JSON.stringify(f.name)}: lowercase letters, digits and hyphens`);
    if (slot.has(f.name)) throw new PluginError('PLUGIN_DUPLICATE', `${f.kind} plugin ${f.name} is registered twice`);
    slot.set(f.name, f as unknown as PluginFactory);
    return this;
  }

  /** Registered names of a kind, in registration order. */
  names(kind: PluginKind): string[] {
    return [...this.byKind.get(kind)!.keys()];
  }

  /** The factory of `kind`/`name`; `field` (the configuration setting that named it) goes into the error. */
  get<K extends PluginKind>(kind: K, name: string, field: string): PluginFactory<K> {
    const f = this.byKind.get(kind)!.get(name);
    if (!f) {
      const known = this.names(kind);
      throw new PluginError('PLUGIN_UNKNOWN', `${field}: unknown ${kind} plugin ${JSON.stringify(name)} (known: ${known.length ? known.join(', ') : 'none'})`);
    }
    return f as unknown as PluginFactory<K>;
  }

  /**
   * The plugins a configuration field selects: `names` as listed (a comma-separated string or a
   * list; blanks and repeats dropped). Unknown names throw (PLUGIN_UNKNOWN, naming `field`);
   * plugins missing a required setting are returned in `off`.
   */
  select<K extends PluginKind>(kind: K, names: string | readonly string[] | undefined, field: string, setting: (key: string) => unknown): Selected<K> {
    const list = typeof names === 'string' ? names.split(',') : names ?? [];
    const seen = new Set<string>();
    const out: Selected<K> = { active: [], off: [] };
    for (const raw of list) {
      const name = raw.trim();
      if (!name || seen.has(name)) continue;
      seen.add(name);
      const f = this.get(kind, name, field);
      const missing = (f.requires ?? []).find((k) => { const v = setting(k); return v === undefined || v === null || v === ''; });
      if (missing) out.off.push({ name, missing });
      else out.active.push(f);
    }
    return out;
  }

  /** Builds one plugin by name (the context's settings configure it). */
  create<K extends PluginKind>(kind: K, name: string, field: string, ctx: PluginKinds[K]['context']): PluginKinds[K]['plugin'] {
    return this.get(kind, name, field).create(ctx);
  }
}
