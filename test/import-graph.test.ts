// The architecture's import rules, checked on the source tree (docs/architecture.md):
// - the two roles never import each other: nothing under daemon/agent/ imports daemon/admin/,
//   and the other way round (type-only imports included);
// - the floor (daemon/{base,config,process,http,metrics,tunnel,net,security}) imports no role,
//   no data plane and no CLI; core/, native/ and plugins/ never import daemon/;
// - the folder graph has no cycle (a folder imports another when any of its files does).
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

const ROOT = path.resolve(__dirname, '..', '..');
const SOURCES = ['daemon', 'core', 'native', 'plugins'];
const FLOOR = ['base', 'config', 'process', 'http', 'metrics', 'tunnel', 'net', 'security'].map((f) => `daemon/${f}`);
const UPPER = ['daemon/agent', 'daemon/admin', 'daemon/dataplane', 'daemon/cli'];

function walk(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Every relative import of the tree: [importing file, imported folder], repo-relative. */
function imports(): Array<{ file: string; from: string; to: string; target: string }> {
  const out: Array<{ file: string; from: string; to: string; target: string }> = [];
  for (const src of SOURCES) {
    for (const f of walk(path.join(ROOT, src))) {
      const text = fs.readFileSync(f, 'utf8');
      for (const m of text.matchAll(/(?:\bfrom|\bimport|\brequire\(|\bimport\()\s*['"](\.{1,2}(?:\/[^'"]*)?)['"]/g)) {
        const abs = path.resolve(path.dirname(f), m[1]);
        const isDir = fs.existsSync(abs) && fs.statSync(abs).isDirectory();
        const target = path.relative(ROOT, isDir ? path.join(abs, 'index.ts') : abs);
        out.push({ file: path.relative(ROOT, f), from: path.relative(ROOT, path.dirname(f)), to: path.dirname(target), target });
      }
    }
  }
  return out;
}

const under = (p: string, dir: string) => p === dir || p.startsWith(dir + '/');

t.test('the agent and admin roles never import each other', async (t) => {
  const bad = imports().filter((i) => (under(i.from, 'daemon/agent') && under(i.to, 'daemon/admin')) || (under(i.from, 'daemon/admin') && under(i.to, 'daemon/agent')));
  t.same(bad.map((i) => `${i.file} → ${i.target}`), [], 'no import crosses between daemon/agent and daemon/admin');
});

t.test('the floor imports no role, no data plane, no CLI; core, native and plugins import nothing of daemon/', async (t) => {
  const all = imports();
  const floorUp = all.filter((i) => FLOOR.some((f) => under(i.from, f)) && UPPER.some((u) => under(i.to, u)));
  t.same(floorUp.map((i) => `${i.file} → ${i.target}`), [], 'the floor stands below the roles');
  const lowUp = all.filter((i) => ['core', 'native', 'plugins'].some((f) => under(i.from, f)) && under(i.to, 'daemon'));
  t.same(lowUp.map((i) => `${i.file} → ${i.target}`), [], 'core/native/plugins never reach into daemon/');
});

t.test('the folder graph has no cycle', async (t) => {
  const edges = new Map<string, Set<string>>();
  const why = new Map<string, string>();
  for (const i of imports()) {
    if (i.from === i.to) continue;
    if (!edges.has(i.from)) edges.set(i.from, new Set());
    edges.get(i.from)!.add(i.to);
    why.set(`${i.from} ${i.to}`, `${i.file} → ${i.target}`);
  }
  // Tarjan-free check: depth-first search with colours; report each cycle found once.
  const colour = new Map<string, 0 | 1 | 2>();
  const stack: string[] = [];
  const cycles: string[] = [];
  const visit = (n: string) => {
    colour.set(n, 1);
    stack.push(n);
    for (const m of edges.get(n) ?? []) {
      const c = colour.get(m) ?? 0;
      if (c === 0) visit(m);
      else if (c === 1) {
        const loop = stack.slice(stack.indexOf(m)).concat(m);
        cycles.push(loop.map((x, k) => (k + 1 < loop.length ? why.get(`${x} ${loop[k + 1]}`) : '')).filter(Boolean).join('  ⇒  '));
      }
    }
    stack.pop();
    colour.set(n, 2);
  };
  for (const n of [...edges.keys()].sort()) if (!colour.get(n)) visit(n);
  t.same(cycles, [], 'no folder imports itself back through others');
});
