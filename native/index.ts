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
  pty: BackendReport;
  argon2: BackendReport;
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

export type Sqlite = typeof import('better-sqlite3');
let cachedSqlite: { mod?: Sqlite; report: BackendReport } | undefined;

/** better-sqlite3 (the admin's embedded store). Throws a coded error when it is missing. */
export function loadSqlite(): Sqlite {
  cachedSqlite ??= optionalAddon<Sqlite>('better-sqlite3', 'better-sqlite3');
  if (!cachedSqlite.mod) throw Object.assign(new Error(`better-sqlite3 native addon failed to load: ${cachedSqlite.report.detail}`), { code: 'NATIVE_SQLITE_MISSING' });
  return cachedSqlite.mod;
}

export type Pty = typeof import('node-pty');
export type Argon2 = typeof import('@node-rs/argon2');

function optionalAddon<T>(name: string, label: string): { mod?: T; report: BackendReport } {
  try {
    const mod = require(name) as T;
    return { mod, report: { name: label, backend: 'native', version: packageVersion(name) } };
  } catch (err) {
    return { report: { name: label, backend: 'missing', version: 'unknown', detail: (err as Error).message.split('\n')[0] } };
  }
}

let cachedPty: { mod?: Pty; report: BackendReport } | undefined;
let cachedArgon2: { mod?: Argon2; report: BackendReport } | undefined;

/** node-pty (shell sessions with a PTY, the command runner). Throws a coded error when it is missing. */
export function loadPty(): Pty {
  cachedPty ??= optionalAddon<Pty>('node-pty', 'node-pty');
  if (!cachedPty.mod) throw Object.assign(new Error(`node-pty native addon failed to load: ${cachedPty.report.detail}`), { code: 'NATIVE_PTY_MISSING' });
  return cachedPty.mod;
}

/** Argon2id hashing for SSH passwords. Throws a coded error when it is missing. */
export function loadArgon2(): Argon2 {
  cachedArgon2 ??= optionalAddon<Argon2>('@node-rs/argon2', 'argon2');
  if (!cachedArgon2.mod) throw Object.assign(new Error(`argon2 native addon failed to load: ${cachedArgon2.report.detail}`), { code: 'NATIVE_ARGON2_MISSING' });
  return cachedArgon2.mod;
}

/**
 * Whether an optional addon is installed with its native binary, without loading it: node-pty
 * and argon2 cost ~5 MiB of RSS together and many hosts never open a PTY or check a password.
 * They load on first use; a binary that then fails to load is a clear error at that point.
 */
function probeAddon(name: string, label: string, binaries: string[]): BackendReport {
  try {
    const pkgFile = require.resolve(`${name}/package.json`);
    const dir = path.dirname(pkgFile);
    const version = (JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as { version?: string }).version ?? 'unknown';
    const found = binaries.some((b) => {
      try {
        if (b.endsWith('.node')) return fs.existsSync(path.join(dir, b));
        require.resolve(b);
        return true;
      } catch { return false; }
    });
    if (!found) return { name: label, backend: 'missing', version, detail: `no native binary (looked for ${binaries.join(', ')})` };
    return { name: label, backend: 'native', version, detail: 'loaded on first use' };
  } catch (err) {
    return { name: label, backend: 'missing', version: 'unknown', detail: (err as Error).message.split('\n')[0] };
  }
}

const platformTriple = `${process.platform}-${process.arch}`;

/** Loads every native addon the daemon needs and says what it got. Throws only for addons we cannot run without. */
export function loadNative(): NativeReport {
  const uws = loadUws().report;
  const lmdb = loadLmdb().report;
  const pty = cachedPty?.report ?? probeAddon('node-pty', 'node-pty', ['build/Release/pty.node', 'build/Debug/pty.node', `prebuilds/${platformTriple}/pty.node`]);
  const argon2 = cachedArgon2?.report ?? probeAddon('@node-rs/argon2', 'argon2', [
    `@node-rs/argon2-${platformTriple}-gnu`, `@node-rs/argon2-${platformTriple}-musl`, `@node-rs/argon2-${platformTriple}`,
    `argon2.${platformTriple}-gnu.node`, `argon2.${platformTriple}-musl.node`, `argon2.${platformTriple}.node`,
  ]);
  const warnings: string[] = [];
  if (pty.backend !== 'native') warnings.push(`node-pty is missing (${pty.detail}): SSH shells with a PTY and the command runner are unavailable`);
  if (argon2.backend !== 'native') warnings.push(`argon2 is missing (${argon2.detail}): SSH password logins are unavailable`);
  if (uws.backend !== 'native') {
    warnings.push(`uWebSockets.js is running on its slow JavaScript fallback (${uws.detail}); expect a fraction of native throughput`);
  }
  return { uws, lmdb, pty, argon2, warnings };
}
