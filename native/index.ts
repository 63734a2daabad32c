// The one place that loads native addons. Every other module imports them from here, so the
// process knows (and reports) which backend it actually got.
import fs from 'node:fs';
import path from 'node:path';

import type * as UwsTypes from '@trufflesuite/uws-js-unofficial';

export type Uws = typeof UwsTypes;

export interface BackendReport {
  name: string;
  backend: 'native' | 'fallback' | 'missing';
  version: string;
  detail?: string;
}

export interface NativeReport {
  uws: BackendReport;
  lmdb: BackendReport;
  warnings: string[];
}

let cachedUws: { uws: Uws; report: BackendReport } | undefined;

/**
 * Loads uWebSockets.js. `@trufflesuite/uws-js-unofficial` silently swaps in a slow `ws`-based
 * shim when its binary cannot load; we load the binary ourselves so the failure is visible,
 * and only then take the package's fallback, reporting it as `fallback`.
 */
export function loadUws(): { uws: Uws; report: BackendReport } {
  if (cachedUws) return cachedUws;
  const pkgDir = path.dirname(require.resolve('@trufflesuite/uws-js-unofficial/package.json'));
  const version: string = require(path.join(pkgDir, 'package.json')).version;
  const binary = path.join(
    pkgDir,
    'binaries',
    `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`,
  );
  const forced = /^(1|true)$/i.test(process.env.UWS_USE_FALLBACK ?? '');
  if (!forced) {
    try {
      const uws = require(binary) as Uws;
      cachedUws = { uws, report: { name: 'uWebSockets.js', backend: 'native', version, detail: path.basename(binary) } };
      return cachedUws;
    } catch (err) {
      const uws = require(path.join(pkgDir, 'dist', 'index.js')) as Uws;
      cachedUws = {
        uws,
        report: {
          name: 'uWebSockets.js',
          backend: 'fallback',
          version,
          detail: `native binary ${path.basename(binary)} failed to load: ${(err as Error).message.split('\n')[0]}`,
        },
      };
      return cachedUws;
    }
  }
  const uws = require(path.join(pkgDir, 'dist', 'index.js')) as Uws;
  cachedUws = { uws, report: { name: 'uWebSockets.js', backend: 'fallback', version, detail: 'forced by UWS_USE_FALLBACK' } };
  return cachedUws;
}

export type Lmdb = typeof import('lmdb');

let cachedLmdb: { lmdb: Lmdb; report: BackendReport } | undefined;

/** Version from a package's own package.json, found next to its entry (lmdb's exports map hides it). */
function packageVersion(name: string): string {
  let dir = path.dirname(require.resolve(name));
  for (let i = 0; i < 5; i++) {
    const f = path.join(dir, 'package.json');
    if (fs.existsSync(f)) {
      const pkg = JSON.parse(fs.readFileSync(f, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === name) return pkg.version ?? 'unknown';
    }
    dir = path.dirname(dir);
  }
  return 'unknown';
}

export function loadLmdb(): { lmdb: Lmdb; report: BackendReport } {
  if (cachedLmdb) return cachedLmdb;
  try {
    const lmdb = require('lmdb') as Lmdb;
    const v = (lmdb as unknown as { version?: { versionString?: string } }).version;
    cachedLmdb = {
      lmdb,
      report: { name: 'lmdb', backend: 'native', version: packageVersion('lmdb'), detail: v?.versionString ?? '' },
    };
    return cachedLmdb;
  } catch (err) {
    const e = new Error(`lmdb native addon failed to load: ${(err as Error).message}`, { cause: err });
    (e as Error & { code: string }).code = 'NATIVE_LMDB_MISSING';
    throw e;
  }
}

/** Loads every native addon the daemon needs and says what it got. Throws only for addons we cannot run without. */
export function loadNative(): NativeReport {
  const uws = loadUws().report;
  const lmdb = loadLmdb().report;
  const warnings: string[] = [];
  if (uws.backend !== 'native') {
    warnings.push(`uWebSockets.js is running on its slow JavaScript fallback (${uws.detail}); expect a fraction of native throughput`);
  }
  return { uws, lmdb, warnings };
}
