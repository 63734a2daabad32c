// SSH host keys: ed25519 and RSA 3072, generated on first start into data_dir/agent/ with 0600
// permissions and reused afterwards; their SHA256 fingerprints are logged and shown by /health.
import fs from 'node:fs';
import path from 'node:path';
import { utils } from 'ssh2';
import { fingerprintOf } from './ssh-keys';
import { writeFileAtomic } from '../base/atomic-file';

export interface HostKey { type: string; file: string; private: Buffer; fingerprint: string; public_key: string }

const SPECS = [
  { file: 'ssh_host_ed25519_key', type: 'ed25519' as const, opts: {} },
  { file: 'ssh_host_rsa_key', type: 'rsa' as const, opts: { bits: 3072 } },
];


/** Loads the host keys from `dir`, generating the missing ones. Throws when a key file is unreadable or invalid. */
export function loadHostKeys(dir: string): HostKey[] {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const out: HostKey[] = [];
  for (const spec of SPECS) {
    const file = path.join(dir, spec.file);
    if (!fs.existsSync(file)) {
      // ssh2's generator now and then (~0.4 % of ed25519 keys) writes a key its own parser
      // rejects: generate until it parses.
      let pair = utils.generateKeyPairSync(spec.type, spec.opts as never);
      for (let i = 0; i < 20 && utils.parseKey(pair.private) instanceof Error; i++) pair = utils.generateKeyPairSync(spec.type, spec.opts as never);
      writeFileAtomic(`${file}.pub`, pair.public + '\n', 0o644);
      writeFileAtomic(file, pair.private, 0o600);
    }
    const st = fs.statSync(file);
    if ((st.mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
    const priv = fs.readFileSync(file);
    const parsed = utils.parseKey(priv);
    if (parsed instanceof Error) throw new Error(`SSH host key ${file} is invalid: ${parsed.message}`);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    const blob = key.getPublicSSH();
    out.push({ type: key.type, file, private: priv, fingerprint: fingerprintOf(blob), public_key: `${key.type} ${blob.toString('base64')}` });
  }
  return out;
}
