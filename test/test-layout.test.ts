// Where test code lives, checked on the source tree (issue 12, item 7):
// - production (daemon/, core/, native/, plugins/) imports nothing from test/ or bench/, and has no
//   stand-ins: no file named memory-*, fake-*, mock-* or stub-*, no exported Memory*/Fake*/Mock*/
//   Stub* class (the in-memory tunnel backend, agent outbox and webhook store are in test/helpers/);
// - `sleep` is defined once, in test/helpers/wait.ts (beside `until`, the one polling loop): no
//   other test or bench file defines its own sleep or delay.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

const ROOT = path.resolve(__dirname, '..', '..');
const PRODUCTION = ['daemon', 'core', 'native', 'plugins'];

function walk(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) { if (e.name !== 'node_modules') walk(p, out); } else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const rel = (f: string) => path.relative(ROOT, f);
const production = () => PRODUCTION.flatMap((d) => walk(path.join(ROOT, d)));

t.test('production imports no test or bench code and ships no stand-ins', async (t) => {
  const files = production();
  t.ok(files.length > 100, `${files.length} production files read`);
  const imports: string[] = [];
  const named: string[] = [];
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    for (const m of text.matchAll(/(?:\bfrom|\bimport|\brequire\(|\bimport\()\s*['"](\.{1,2}\/[^'"]*)['"]/g)) {
      const target = rel(path.resolve(path.dirname(f), m[1]));
      if (/^(test|bench)(\/|$)/.test(target)) imports.push(`${rel(f)} → ${target}`);
    }
    if (/^(memory|fake|mock|stub)[-_.]/i.test(path.basename(f))) named.push(rel(f));
    for (const m of text.matchAll(/^export\s+(?:abstract\s+)?class\s+((?:Memory|Fake|Mock|Stub)[A-Za-z0-9_]*)/gm)) named.push(`${rel(f)}: class ${m[1]}`);
  }
  t.same(imports, [], 'no production file imports test/ or bench/');
  t.same(named, [], 'no test double in production folders (they belong in test/helpers/)');
});

t.test('sleep is defined once, in test/helpers/wait.ts', async (t) => {
  const wait = path.join(ROOT, 'test', 'helpers', 'wait.ts');
  const files = [...walk(path.join(ROOT, 'test')), ...walk(path.join(ROOT, 'bench'))].filter((f) => f !== wait);
  const bad: string[] = [];
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    for (const m of text.matchAll(/\b(?:function\s+(sleep|delay)\b|(?:const|let|var)\s+(sleep|delay)\s*=)/g)) bad.push(`${rel(f)}: ${m[1] ?? m[2]}`);
  }
  t.same(bad, [], 'tests and benchmarks import sleep from test/helpers/wait.ts (bench via bench/lib/net.ts)');
  t.match(fs.readFileSync(wait, 'utf8'), /export \{ sleep \}/, 'wait.ts exports it');
});
