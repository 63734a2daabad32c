// Loading this codebase's .proto schemas with protobufjs. 64-bit integers decode to JS numbers
// (exact up to 2^53), never to Long objects: every schema here is used that way, and decoding
// without a toObject pass is then safe and fast. The setting is process-wide, so it lives here,
// once, whichever schema loads first.
import fs from 'node:fs';
import protobuf from 'protobufjs';

protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
protobuf.configure();

/**
 * Loads and resolves the first existing file of `candidates` (the .proto stays in the source tree;
 * a copy next to the compiled module is the fallback for installs that ship only dist/).
 */
export function loadProto(candidates: string[]): { root: protobuf.Root; file: string } {
  const file = candidates.find((p) => fs.existsSync(p)) ?? candidates[0];
  const root = new protobuf.Root();
  root.loadSync(file, { keepCase: true });
  root.resolveAll();
  return { root, file };
}

