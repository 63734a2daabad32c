// Joins two byte streams both ways (a tunnel stream and the socket or SSH channel it carries).
// Each side's end of data is passed on as a half-close, so bytes still in flight in the other
// direction are delivered, and each side closes by itself once both of its halves are done.
// Only an error, or a side that closes before its data ended, tears the other one down, so a
// peer never mistakes a cut-off stream for a complete one.
import type { Duplex } from 'node:stream';

export function splice(a: Duplex, b: Duplex, onDone?: () => void): void {
  let aborted = false;
  let closedCount = 0;
  const abort = (err?: Error) => {
    if (aborted) return;
    aborted = true;
    a.destroy(err);
    b.destroy(err);
  };
  a.on('error', () => abort());
  b.on('error', () => abort());
  const onClose = (x: Duplex, other: Duplex) => () => {
    // A clean close means x delivered all its data (readable ended) and took all of the other's.
    if (!x.readableEnded || !x.writableFinished) {
      if (!other.destroyed) other.destroy(new Error('the other end closed before its data ended'));
    }
    if (++closedCount === 2) onDone?.();
  };
  a.once('close', onClose(a, b));
  b.once('close', onClose(b, a));
  a.pipe(b).pipe(a);
}
