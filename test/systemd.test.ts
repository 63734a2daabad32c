// systemd/install.sh into a staging root (--root): files, modes, the unit, and that the
// installed copy runs on its own (daemon and CLI) and stops cleanly on SIGTERM.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { parse as parseToml } from 'smol-toml';
import { FIELDS, loadConfig } from '../daemon/config/config';
import { ROOT, tempDir } from './helpers/daemon';

const INSTALL = path.join(ROOT, 'systemd', 'install.sh');

function sh(cmd: string, args: string[], timeoutMs = 120_000, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, env, maxBuffer: 16 << 20 }, (error, out, err) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : -1) : 0;
      resolve({ code, out, err: err + (error && code === -1 ? String(error) : '') });
    });
  });
}

const mode = (p: string) => fs.statSync(p).mode & 0o777;

/** Minimal systemd unit parser: section -> key -> values (keys may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let sec: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const m = line.match(/^\[([A-Za-z]+)\]$/);
    if (m) { sec = new Map(); out.set(m[1], sec); continue; }
    const eq = line.indexOf('=');
    if (!sec || eq <= 0) throw new Error(`not a unit file line: ${raw}`);
    const k = line.slice(0, eq).trim();
    if (!/^[A-Za-z]+$/.test(k)) throw new Error(`bad key: ${raw}`);
    sec.set(k, [...(sec.get(k) ?? []), line.slice(eq + 1).trim()]);
  }
  return out;
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, cmd);
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return undefined;
}

t.test('install.sh --root stages a runnable install', async (t) => {
  const root = tempDir(t, 'outpost-root-');
  const prefix = path.join(root, 'opt', 'outpost');
  const unitPath = path.join(root, 'etc', 'systemd', 'system', 'outpostd.service');
  const toml = path.join(root, 'etc', 'outpost', 'outpost.toml');
  const envFile = path.join(root, 'etc', 'outpost', 'outpostd.env');

  let r = await sh('bash', [INSTALL, '--root', root, '--node', process.execPath]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /\[skipped: --root staging\] systemctl enable outpostd\.service/, 'says what it would run');
  t.match(r.out, /\[skipped: --root staging\] sysctl -p \/etc\/sysctl\.d\/60-outpost-reserved-ports\.conf/, 'says it would apply the port reservation');

  t.test('files and modes', async (t) => {
    t.ok(fs.existsSync(path.join(prefix, 'dist', 'daemon', 'main.js')));
    t.equal(mode(path.join(prefix, 'dist', 'daemon', 'cli', 'outpost.js')), 0o755, 'CLI is executable');
    t.equal(fs.readFileSync(path.join(prefix, 'dist', 'daemon', 'cli', 'outpost.js'), 'utf8').split('\n')[0], '#!/usr/bin/env node');
    t.ok(fs.existsSync(path.join(prefix, 'package.json')));
    t.ok(fs.existsSync(path.join(prefix, 'package-lock.json')));
    t.notOk(fs.existsSync(path.join(prefix, 'dist', 'test')), 'tests are not installed');
    t.ok(fs.existsSync(path.join(prefix, 'node_modules', 'lmdb', 'package.json')), 'production deps installed');
    t.notOk(fs.existsSync(path.join(prefix, 'node_modules', 'typescript')), 'dev deps are not');
    t.notOk(fs.existsSync(path.join(prefix, 'node_modules', 'tap')), 'dev deps are not');
    t.equal(fs.readlinkSync(path.join(root, 'usr', 'local', 'bin', 'outpost')), '/opt/outpost/dist/daemon/cli/outpost.js');
    t.equal(mode(envFile), 0o600, 'env file is 0600');
    t.equal(mode(toml), 0o644);
    t.equal(mode(unitPath), 0o644);
    t.match(fs.readFileSync(envFile, 'utf8'), /^MASTER_KEY=[0-9a-f]{64}$/m, 'generated MASTER_KEY');
    const conf = parseToml(fs.readFileSync(toml, 'utf8'));
    t.same(conf, { data_dir: '/var/lib/outpost', bind: '127.0.0.1', api_port: 44000, log_level: 'info' });
    const cfg = loadConfig(['--config', toml], {});
    t.equal(cfg.data_dir, '/var/lib/outpost', 'the daemon accepts the generated config');
    t.notOk(fs.existsSync(`${prefix}.new.${process.pid}`));
    t.same(fs.readdirSync(path.join(root, 'opt')), ['outpost'], 'no staging leftovers');
  });

  t.test('unit', async (t) => {
    const text = fs.readFileSync(unitPath, 'utf8');
    const unit = parseUnit(text);
    const svc = unit.get('Service')!;
    t.ok(svc, '[Service] section');
    t.same(unit.get('Install')?.get('WantedBy'), ['multi-user.target']);
    const execStart = svc.get('ExecStart')!;
    t.same(execStart, [`${process.execPath} --initial-old-space-size=64 /opt/outpost/dist/daemon/main.js --config /etc/outpost/outpost.toml`], 'node found at install time, its heap flag, the installed main.js');
    t.ok(fs.existsSync(path.join(root, execStart[0].split(' ')[2])), 'ExecStart main.js exists in the staged tree');
    const want: Record<string, string> = {
      Type: 'notify', NotifyAccess: 'main', WatchdogSec: '30s', ExecReload: '/bin/kill -HUP $MAINPID',
      Restart: 'on-failure', User: 'root', Group: 'root',
      StateDirectory: 'outpost', StateDirectoryMode: '0700', ConfigurationDirectory: 'outpost', EnvironmentFile: '-/etc/outpost/outpostd.env',
      KillSignal: 'SIGTERM', ProtectKernelModules: 'yes', ProtectKernelLogs: 'yes', LockPersonality: 'yes', SystemCallArchitectures: 'native',
      UMask: '0022',
    };
    for (const [k, v] of Object.entries(want)) t.same(svc.get(k), [v], k);
    t.notOk(svc.has('ExecStartPost'), 'readiness comes from READY=1, not a polling ExecStartPost');
    const caps = svc.get('CapabilityBoundingSet')?.[0] ?? '';
    t.match(caps, /^~/, 'capabilities: all but a deny list');
    for (const c of ['CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_BPF']) t.match(caps, c, `${c} dropped`);
    for (const k of ['NoNewPrivileges', 'ProtectSystem', 'ProtectHome', 'PrivateTmp', 'RestrictSUIDSGID']) {
      t.notOk(svc.has(k), `${k} not set: sessions and commands inherit it (sudo, the real /home and /tmp)`);
    }

    // The drop-in for data-plane-only hosts puts the strict sandbox back.
    const hardened = parseUnit(fs.readFileSync(path.join(prefix, 'systemd', 'hardened.conf'), 'utf8')).get('Service')!;
    const strict: Record<string, string> = {
      User: 'outpost', Group: 'outpost', NoNewPrivileges: 'yes', ProtectSystem: 'strict', ReadWritePaths: '/var/lib/outpost',
      ProtectHome: 'yes', PrivateTmp: 'yes', PrivateDevices: 'yes', ProtectKernelTunables: 'yes', RestrictSUIDSGID: 'yes',
      RestrictNamespaces: 'yes', UMask: '0077', CapabilityBoundingSet: '', AmbientCapabilities: '',
      // No CAP_SYS_ADMIN: the systemd-notify fallback's messages carry its own PID.
      NotifyAccess: 'all',
    };
    for (const [k, v] of Object.entries(strict)) t.same(hardened.get(k), [v], `hardened.conf ${k}`);
    t.match(hardened.get('Environment')?.[0] ?? '', /OUTPOST_SSH_ENABLED=false/, 'hardened.conf turns the SSH server off');
    t.ok(svc.get('RestartSec'), 'RestartSec');
    t.ok(Number(svc.get('LimitNOFILE')?.[0]) >= 65536, 'LimitNOFILE high');
    const stop = Number(/^(\d+)s$/.exec(svc.get('TimeoutStopSec')?.[0] ?? '')?.[1]);
    t.ok(stop > 10 && stop <= 60, `TimeoutStopSec ${stop}s is above the 10 s drain timeout`);
    t.notOk(svc.has('MemoryDenyWriteExecute'), 'V8 JIT needs W+X memory');

    const analyze = which('systemd-analyze');
    if (analyze) {
      const v = await sh(analyze, ['verify', unitPath], 60_000);
      t.equal(v.code, 0, `systemd-analyze verify: ${v.err}`);
      const complaints = v.err.split('\n').filter((l) => l.includes('outpostd.service'));
      t.same(complaints, [], 'no warnings about the unit (unknown keys, bad values)');
    } else {
      t.pass('systemd-analyze not installed: checked the unit as INI above instead');
    }
  });

  t.test('the default ports are reserved out of the ephemeral range', async (t) => {
    // From the config table, so that a new or moved default port cannot be forgotten here.
    const [lo, hi] = [32768, 60999]; // Linux's default net.ipv4.ip_local_port_range
    const portFields = FIELDS.filter((f) => f.kind === 'int' && /(^|[._])port$/.test(f.key));
    t.ok(portFields.length >= 6, `found the port settings: ${portFields.map((f) => f.key).join(', ')}`);
    const inRange = portFields.map((f) => f.def as number).filter((p) => p >= lo && p <= hi).sort((a, b) => a - b);
    t.same(inRange, [42222, 44000, 44180, 44880], 'the defaults inside the ephemeral range');
    const shipped = fs.readFileSync(path.join(ROOT, 'systemd', '60-outpost-reserved-ports.conf'), 'utf8');
    const lines = shipped.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
    t.equal(lines.length, 1, 'one setting');
    const m = /^net\.ipv4\.ip_local_reserved_ports\s*=\s*([\d,\s-]+)$/.exec(lines[0]);
    t.ok(m, `sysctl syntax: ${lines[0]}`);
    const reserved = m![1].split(',').map((x) => Number(x.trim())).sort((a, b) => a - b);
    t.same(reserved, inRange, 'reserves exactly the default ports inside the range');
    const installed = path.join(root, 'etc', 'sysctl.d', '60-outpost-reserved-ports.conf');
    t.equal(fs.readFileSync(installed, 'utf8'), shipped, 'install.sh installed the drop-in to /etc/sysctl.d');
    t.equal(mode(installed), 0o644);
    t.ok(fs.existsSync(path.join(prefix, 'systemd', '60-outpost-reserved-ports.conf')), 'and ships it with the code');
    t.ok(fs.existsSync(path.join(prefix, 'systemd', 'notify-fd.conf')), 'the systemd >= 253 notify drop-in ships too');
    const sysctl = which('sysctl') ?? (fs.existsSync('/usr/sbin/sysctl') ? '/usr/sbin/sysctl' : fs.existsSync('/sbin/sysctl') ? '/sbin/sysctl' : undefined);
    if (sysctl) {
      // --dry-run-like check that sysctl parses the file: read the current value under the same key.
      const r = await sh(sysctl, ['-n', 'net.ipv4.ip_local_reserved_ports']);
      t.equal(r.code, 0, `the kernel knows net.ipv4.ip_local_reserved_ports: ${r.err}`);
    }
  });

  t.test('systemd-analyze security: the README reports the exposure of both profiles', async (t) => {
    const analyze = which('systemd-analyze');
    if (!analyze) { t.pass('systemd-analyze not installed'); return; }
    const version = /systemd (\d+)/.exec((await sh(analyze, ['--version'])).out)?.[1];
    if (version !== '252') { t.pass(`systemd ${version}: the README's figures are for systemd 252`); return; }
    const sroot = tempDir(t, 'outpost-sa-');
    const unitDir = path.join(sroot, 'etc', 'systemd', 'system');
    fs.mkdirSync(path.join(unitDir, 'outpostd.service.d'), { recursive: true });
    fs.copyFileSync(unitPath, path.join(unitDir, 'outpostd.service'));
    const score = async () => {
      const r = await sh(analyze, ['security', '--offline=yes', `--root=${sroot}`, 'outpostd.service'], 60_000);
      return /Overall exposure level for outpostd\.service: (\d+\.\d)/.exec(r.out + r.err)?.[1];
    };
    const plain = await score();
    fs.copyFileSync(path.join(prefix, 'systemd', 'hardened.conf'), path.join(unitDir, 'outpostd.service.d', 'hardened.conf'));
    const hardened = await score();
    t.ok(plain && hardened, `scores: default ${plain}, hardened ${hardened}`);
    const readme = fs.readFileSync(path.join(ROOT, 'systemd', 'README.md'), 'utf8');
    t.match(readme, `default profile (\`outpostd.service\`): **${plain}**`, 'systemd/README.md states the default score');
    t.match(readme, `hardened profile (\`+ hardened.conf\`): **${hardened}**`, 'systemd/README.md states the hardened score');
  });

  t.test('the staged copy runs on its own', async (t) => {
    const dataDir = tempDir(t);
    const masterKey = /^MASTER_KEY=(\S+)$/m.exec(fs.readFileSync(envFile, 'utf8'))![1];
    const main = path.join(prefix, 'dist', 'daemon', 'main.js');
    // Every port from the OS: a fixed default port may be some other test's ephemeral port.
    const ports = ['--api-port', '0', '--ssh-port', '0', '--http-proxy-port', '0', '--socks5-port', '0'];
    const proc = spawn(process.execPath, [main, '--config', toml, '--data-dir', dataDir, ...ports], {
      cwd: dataDir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, MASTER_KEY: masterKey },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => proc.on('exit', (code, signal) => res({ code, signal })));
    t.teardown(async () => { if (proc.exitCode === null && proc.signalCode === null) { proc.kill('SIGKILL'); await exited; } });
    let out = '';
    let err = '';
    proc.stderr.on('data', (d: Buffer) => { err += d; });
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`installed daemon did not start:\n${out}\n${err}`)), 20_000);
      proc.stdout.on('data', (d: Buffer) => {
        out += d;
        const m = out.match(/"port":(\d+)[^\n]*"msg":"outpostd listening"/);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      });
      void exited.then((e) => { clearTimeout(timer); reject(new Error(`installed daemon exited ${JSON.stringify(e)}:\n${out}\n${err}`)); });
    });
    const url = `http://127.0.0.1:${port}`;
    const h = await fetch(`${url}/healthz`);
    t.equal(h.status, 200);
    t.equal(await h.text(), 'ok\n');
    t.match(out, new RegExp(`"data_dir":"${dataDir}"`), 'flags override the config file');

    // The installed CLI, with the generated MASTER_KEY from the environment.
    const cli = path.join(prefix, 'dist', 'daemon', 'cli', 'outpost.js');
    const cliEnv = { PATH: process.env.PATH, HOME: process.env.HOME, MASTER_KEY: masterKey, OUTPOST_URL: url };
    let c = await sh(process.execPath, [cli, 'kv', 'put', 'app/greeting', 'hi'], 15_000, cliEnv);
    t.equal(c.code, 0, c.err);
    c = await sh(process.execPath, [cli, 'kv', 'get', 'app/greeting'], 15_000, cliEnv);
    t.equal(c.out, 'hi');
    c = await sh(process.execPath, [cli, 'kv', 'get', 'app/greeting'], 15_000, { PATH: process.env.PATH, OUTPOST_URL: url });
    t.equal(c.code, 1, 'the key from outpostd.env is enforced');

    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    const e = await exited;
    clearTimeout(timer);
    t.same(e, { code: 0, signal: null }, 'SIGTERM drains and exits 0');
  });

  t.test('re-running is idempotent and keeps local config', async (t) => {
    const envBefore = fs.readFileSync(envFile, 'utf8');
    fs.appendFileSync(toml, '# local edit\n');
    const tomlBefore = fs.readFileSync(toml, 'utf8');
    const stale = path.join(prefix, 'dist', 'stale.js');
    fs.writeFileSync(stale, '');
    const r2 = await sh('bash', [INSTALL, '--root', root, '--node', process.execPath]);
    t.equal(r2.code, 0, r2.err);
    t.match(r2.out, /keeping existing .*outpost\.toml/);
    t.equal(fs.readFileSync(envFile, 'utf8'), envBefore, 'MASTER_KEY not regenerated');
    t.equal(fs.readFileSync(toml, 'utf8'), tomlBefore, 'config not overwritten');
    t.notOk(fs.existsSync(stale), 'code tree replaced, not merged');
    t.ok(fs.existsSync(path.join(prefix, 'dist', 'daemon', 'main.js')));
  });

  t.test('uninstall, then purge', async (t) => {
    let u = await sh('bash', [INSTALL, '--root', root, '--uninstall', '--dry-run']);
    t.equal(u.code, 0, u.err);
    t.ok(fs.existsSync(unitPath), 'dry run removes nothing');
    u = await sh('bash', [INSTALL, '--root', root, '--uninstall']);
    t.equal(u.code, 0, u.err);
    t.notOk(fs.existsSync(unitPath), 'unit removed');
    t.notOk(fs.existsSync(prefix), 'prefix removed');
    t.notOk(fs.existsSync(path.join(root, 'usr', 'local', 'bin', 'outpost')), 'CLI link removed');
    t.notOk(fs.existsSync(path.join(root, 'etc', 'sysctl.d', '60-outpost-reserved-ports.conf')), 'port reservation removed');
    t.ok(fs.existsSync(envFile), '/etc/outpost kept');
    u = await sh('bash', [INSTALL, '--root', root, '--uninstall', '--purge']);
    t.equal(u.code, 0, u.err);
    t.notOk(fs.existsSync(path.join(root, 'etc', 'outpost')), '/etc/outpost purged');
  });
});

t.test('install.sh --dry-run changes nothing', async (t) => {
  const parent = tempDir(t, 'outpost-dry-');
  const root = path.join(parent, 'root');
  const r = await sh('bash', [INSTALL, '--root', root, '--dry-run', '--node', process.execPath]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /\[dry-run\] write .*outpostd\.service/);
  t.same(fs.readdirSync(parent), [], 'nothing written');
});

t.test('install.sh refuses bad arguments', async (t) => {
  const root = tempDir(t, 'outpost-bad-');
  let r = await sh('bash', [INSTALL, '--root', root, '--prefix', 'relative/dir']);
  t.not(r.code, 0);
  t.match(r.err, /absolute path/);
  r = await sh('bash', [INSTALL, '--root', root, '--prefix', '/usr']);
  t.not(r.code, 0);
  t.match(r.err, /refusing --prefix/);
  r = await sh('bash', [INSTALL, '--bogus']);
  t.not(r.code, 0);
  t.match(r.err, /unknown argument: --bogus/);
  r = await sh('bash', [INSTALL, '--root', root, '--purge']);
  t.not(r.code, 0);
  t.match(r.err, /only makes sense with --uninstall/);
});
