// The CLI's settings file and where each command's URL, token and CA come from.
//
// ~/.config/outpost/config.toml ($XDG_CONFIG_HOME/outpost/config.toml, or $OUTPOST_CLI_CONFIG)
// holds named contexts, kubectl-style:
//
//   current_context = "prod"
//   [contexts.prod]
//   url = "https://admin.example.net:4000"   # the admin (control plane)
//   token = "…"                              # its MASTER_KEY / API key
//   ca = "/etc/outpost/ca.pem"               # PEM bundle trusted for https:// (optional)
//   data_url = "http://10.0.0.5:44000"       # a daemon's data plane, for kv/queue/stream/ts (optional)
//   data_token = "…"                         # its key (optional; default: token)
//
// The older flat form (`admin_url`, `token` at the top) still works as an unnamed context.
//
// One precedence for every command: a flag (--url, --token, --ca; --context picks a context and
// counts as a flag), then the environment ($OUTPOST_ADMIN_URL or $OUTPOST_URL, $OUTPOST_TOKEN,
// $MASTER_KEY, $API_KEY, $OUTPOST_CA), then the current context of the file, then the default.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import type { Opts } from './args';
import { CliError, UsageError } from './errors';

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:4000';
export const DEFAULT_DATA_URL = 'http://127.0.0.1:44000';

export interface Profile { url?: string; token?: string; ca?: string; data_url?: string; data_token?: string }
const PROFILE_KEYS = ['url', 'token', 'ca', 'data_url', 'data_token'] as const;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface ConfigFile {
  file: string;
  exists: boolean;
  current?: string;
  contexts: Map<string, Profile>;
  /** The flat form's settings (admin_url → url, token). */
  flat?: Profile;
}

/** ~/.config/outpost/config.toml (or $XDG_CONFIG_HOME/outpost/config.toml, or $OUTPOST_CLI_CONFIG). */
export function configPath(env: NodeJS.ProcessEnv): string {
  if (env.OUTPOST_CLI_CONFIG) return env.OUTPOST_CLI_CONFIG;
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(base, 'outpost', 'config.toml');
}

function str(file: string, where: string, v: unknown): string {
  if (typeof v !== 'string' || !v) throw new UsageError(`${file}: ${where} must be a non-empty string`);
  return v;
}

export function loadConfigFile(env: NodeJS.ProcessEnv): ConfigFile {
  const file = configPath(env);
  const out: ConfigFile = { file, exists: false, contexts: new Map() };
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch { return out; }
  out.exists = true;
  let doc: Record<string, unknown>;
  try { doc = parseToml(text) as Record<string, unknown>; } catch (e) {
    throw new UsageError(`${file} is not valid TOML: ${(e as Error).message}`);
  }
  for (const [k, v] of Object.entries(doc)) {
    if (k === 'current_context') out.current = str(file, k, v);
    else if (k === 'admin_url') (out.flat ??= {}).url = str(file, k, v);
    else if (k === 'token') (out.flat ??= {}).token = str(file, k, v);
    else if (k === 'ca') (out.flat ??= {}).ca = str(file, k, v);
    else if (k === 'contexts') {
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new UsageError(`${file}: contexts must be a table of [contexts.NAME] sections`);
      for (const [name, p] of Object.entries(v as Record<string, unknown>)) {
        if (!NAME_RE.test(name)) throw new UsageError(`${file}: context name ${JSON.stringify(name)} (letters, digits, _ . -)`);
        if (!p || typeof p !== 'object' || Array.isArray(p)) throw new UsageError(`${file}: contexts.${name} must be a table`);
        const prof: Profile = {};
        for (const [pk, pv] of Object.entries(p as Record<string, unknown>)) {
          if (!(PROFILE_KEYS as readonly string[]).includes(pk)) throw new UsageError(`${file}: unknown setting 'contexts.${name}.${pk}' (known: ${PROFILE_KEYS.join(', ')})`);
          prof[pk as keyof Profile] = str(file, `contexts.${name}.${pk}`, pv);
        }
        out.contexts.set(name, prof);
      }
    } else {
      throw new UsageError(`${file}: unknown setting '${k}' (known: current_context, [contexts.NAME] with ${PROFILE_KEYS.join(', ')}; or the flat admin_url, token, ca)`);
    }
  }
  if (out.current && !out.contexts.has(out.current)) throw new UsageError(`${file}: current_context ${JSON.stringify(out.current)} is not a [contexts.${out.current}] section`);
  return out;
}

/** The context in use: --context, then $OUTPOST_CONTEXT, then current_context, then the flat settings. */
export function selectProfile(cfg: ConfigFile, opts: Opts, env: NodeJS.ProcessEnv): { name: string | undefined; profile: Profile; explicit: boolean } {
  const asked = (typeof opts.context === 'string' && opts.context) || env.OUTPOST_CONTEXT || undefined;
  if (asked) {
    const p = cfg.contexts.get(asked);
    if (!p) throw new UsageError(`no context named ${asked} in ${cfg.file}${cfg.contexts.size ? ` (have: ${[...cfg.contexts.keys()].join(', ')})` : ''}`);
    return { name: asked, profile: p, explicit: typeof opts.context === 'string' };
  }
  if (cfg.current) return { name: cfg.current, profile: cfg.contexts.get(cfg.current)!, explicit: false };
  return { name: undefined, profile: cfg.flat ?? {}, explicit: false };
}

export type Plane = 'admin' | 'data';

export interface Endpoint { url: string; token?: string; ca?: string; context?: string }

/** URL, token and CA for a command talking to the admin or to a daemon's data plane (precedence in the header). */
export function endpoint(plane: Plane, opts: Opts, env: NodeJS.ProcessEnv): Endpoint {
  const { name, profile, explicit } = selectProfile(loadConfigFile(env), opts, env);
  const flag = (k: string) => (typeof opts[k] === 'string' && opts[k] ? opts[k] as string : undefined);
  const envUrl = plane === 'admin' ? env.OUTPOST_ADMIN_URL : env.OUTPOST_URL;
  const envToken = env.OUTPOST_TOKEN || env.MASTER_KEY || env.API_KEY || undefined;
  const fileUrl = plane === 'admin' ? profile.url : profile.data_url;
  const fileToken = plane === 'admin' ? profile.token : profile.data_token ?? profile.token;
  // A context named on the command line is a flag: it beats the environment.
  const pick = <T>(f: T | undefined, e: T | undefined, c: T | undefined) => f ?? (explicit ? c ?? e : e ?? c);
  return {
    url: pick(flag('url'), envUrl || undefined, fileUrl) ?? (plane === 'admin' ? DEFAULT_ADMIN_URL : DEFAULT_DATA_URL),
    token: pick(flag('token'), envToken, fileToken),
    ca: pick(flag('ca'), env.OUTPOST_CA || undefined, profile.ca),
    context: name,
  };
}

/** Reads the CA bundle named by --ca / $OUTPOST_CA / ca =. */
export function readCa(file: string): string {
  try { return fs.readFileSync(file, 'utf8'); } catch (e) { throw new CliError(`cannot read the CA bundle ${file}: ${(e as Error).message}`, 2); }
}

/**
 * Rewrites the file with one change. `current_context` alone is edited in place (comments and
 * layout stay); adding or changing a context re-serialises the file (comments are lost).
 */
export function setCurrentContext(env: NodeJS.ProcessEnv, name: string): string {
  const cfg = loadConfigFile(env);
  if (!cfg.contexts.has(name)) throw new CliError(`no context named ${name} in ${cfg.file}${cfg.contexts.size ? ` (have: ${[...cfg.contexts.keys()].join(', ')})` : ''}`);
  const text = fs.readFileSync(cfg.file, 'utf8');
  const line = `current_context = ${JSON.stringify(name)}`;
  const re = /^[ \t]*current_context[ \t]*=.*$/m;
  // Top-level keys must come before the first [section].
  const next = re.test(text) ? text.replace(re, line) : `${line}\n${text}`;
  writePrivate(cfg.file, next);
  return cfg.file;
}

export function setContext(env: NodeJS.ProcessEnv, name: string, patch: Profile): string {
  if (!NAME_RE.test(name)) throw new UsageError(`context name ${JSON.stringify(name)}: letters, digits, _ . - (up to 64)`);
  const cfg = loadConfigFile(env);
  const doc: Record<string, unknown> = {};
  if (cfg.current) doc.current_context = cfg.current;
  if (cfg.flat?.url) doc.admin_url = cfg.flat.url;
  if (cfg.flat?.token) doc.token = cfg.flat.token;
  if (cfg.flat?.ca) doc.ca = cfg.flat.ca;
  const contexts: Record<string, Profile> = {};
  for (const [n, p] of cfg.contexts) contexts[n] = { ...p };
  contexts[name] = { ...contexts[name], ...patch };
  if (!cfg.current && !cfg.flat) doc.current_context = name;
  doc.contexts = contexts;
  fs.mkdirSync(path.dirname(cfg.file), { recursive: true, mode: 0o700 });
  writePrivate(cfg.file, stringifyToml(doc) + '\n');
  return cfg.file;
}

/** The file holds tokens: written 0600, through a temp file and a rename. */
function writePrivate(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  fs.renameSync(tmp, file);
}
