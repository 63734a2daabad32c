// Shared by the anchor servers: argv parsing and the one "ready" line the orchestrator waits for.
export interface AnchorArgs { port: number; dataDir: string; keys: number; valueBytes: number }

export function anchorArgs(argv = process.argv.slice(2)): AnchorArgs {
  const get = (name: string, def?: string): string => {
    const i = argv.indexOf(name);
    const v = i >= 0 ? argv[i + 1] : def;
    if (v === undefined) throw new Error(`missing ${name}`);
    return v;
  };
  return { port: Number(get('--port', '0')), dataDir: get('--data-dir', ''), keys: Number(get('--keys', '10000')), valueBytes: Number(get('--value-bytes', '100')) };
}

export function ready(port: number, extra: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ msg: 'anchor ready', port, pid: process.pid, ...extra }) + '\n');
}

/** The key is the last path segment: /api/v1/kv/bench/k42 -> k42. */
export function keyOf(url: string): string {
  const q = url.indexOf('?');
  const p = q >= 0 ? url.slice(0, q) : url;
  return p.slice(p.lastIndexOf('/') + 1);
}

export function exitOnSignals(close: () => void | Promise<void>): void {
  const stop = (): void => { void Promise.resolve(close()).finally(() => process.exit(0)); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
