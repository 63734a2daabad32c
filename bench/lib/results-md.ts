// bench/RESULTS.md holds the main run (`npm run bench`) and one section per standalone bench
// (`npm run bench:ssh`, bench:proxy, bench:tunnel, bench:ws-batch, bench:admin-list). Each
// standalone section's heading names its npm script, and the main run keeps those sections when
// it rewrites the file. upsertSection() replaces one section (the standalone benches print their
// tables; their sections were written with it).
import fs from 'node:fs';
import path from 'node:path';

export const RESULTS_MD = path.join(__dirname, '..', '..', '..', 'bench', 'RESULTS.md');

const STANDALONE = /^## .*\(`npm run bench:[a-z-]+`/;

/** The standalone sections of a RESULTS.md text, in order (each from its heading to the next `## `). */
export function standaloneSections(text: string): string[] {
  const lines = text.split('\n');
  const out: string[] = [];
  let cur: string[] | undefined;
  for (const l of lines) {
    if (l.startsWith('## ')) {
      if (cur) out.push(cur.join('\n').trimEnd());
      cur = STANDALONE.test(l) ? [l] : undefined;
    } else if (cur) cur.push(l);
  }
  if (cur) out.push(cur.join('\n').trimEnd());
  return out;
}

/** Replaces the section whose heading starts with `heading` (or appends it) in RESULTS.md. */
export function upsertSection(heading: string, body: string, file = RESULTS_MD): void {
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Outpost benchmark results\n';
  const section = `${heading}\n\n${body.trim()}\n`;
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith(heading));
  if (start < 0) {
    fs.writeFileSync(file, text.trimEnd() + '\n\n' + section);
    return;
  }
  let end = start + 1;
  while (end < lines.length && !lines[end].startsWith('## ')) end++;
  fs.writeFileSync(file, [...lines.slice(0, start), ...section.trimEnd().split('\n'), '', ...lines.slice(end)].join('\n'));
}
