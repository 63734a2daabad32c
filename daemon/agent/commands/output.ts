// Bounded capture of a command's combined output: the first and last halves of the cap are
// kept, the middle is counted and dropped. The terminal's CRLF line ends are turned back into
// LF (lone CRs, as progress bars use, stay), and the kept parts are cut on UTF-8 boundaries.
const CR = 0x0d;
const LF = 0x0a;

/** Length of `b` without a trailing incomplete UTF-8 sequence. */
function completeLength(b: Buffer): number {
  let i = b.length - 1;
  let cont = 0;
  while (i >= 0 && cont < 3 && (b[i] & 0xc0) === 0x80) { i--; cont++; }
  if (i < 0) return b.length;
  const lead = b[i];
  const need = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : lead >= 0xc0 ? 1 : 0;
  return need > cont ? i : b.length;
}

/** Offset of the first byte that starts a UTF-8 character (skips leading continuation bytes). */
function firstCharStart(b: Buffer): number {
  let i = 0;
  while (i < b.length && i < 3 && (b[i] & 0xc0) === 0x80) i++;
  return i;
}

export class OutputCapture {
  private readonly headCap: number;
  private readonly tailCap: number;
  private head: Buffer[] = [];
  private headLen = 0;
  private tail: Buffer[] = [];
  private tailLen = 0;
  /** Normalized bytes seen in total. */
  total = 0;
  private heldCR = false;

  constructor(capBytes: number) {
    this.headCap = Math.floor(capBytes / 2);
    this.tailCap = capBytes - this.headCap;
  }

  /** Takes raw terminal bytes; returns them normalized (what live subscribers get). */
  push(raw: Buffer): Buffer {
    const b = this.normalize(raw);
    if (b.length) this.keep(b);
    return b;
  }

  /** End of output: a CR held back at the end of the last chunk is released. */
  end(): Buffer {
    if (!this.heldCR) return Buffer.alloc(0);
    this.heldCR = false;
    const b = Buffer.from([CR]);
    this.keep(b);
    return b;
  }

  private normalize(raw: Buffer): Buffer {
    const out = Buffer.allocUnsafe(raw.length + 1);
    let n = 0;
    let i = 0;
    if (this.heldCR) {
      this.heldCR = false;
      if (raw.length && raw[0] === LF) { out[n++] = LF; i = 1; } else out[n++] = CR;
    }
    for (; i < raw.length; i++) {
      const c = raw[i];
      if (c === CR) {
        if (i + 1 === raw.length) { this.heldCR = true; break; }
        if (raw[i + 1] === LF) continue; // CRLF → LF: drop the CR
      }
      out[n++] = c;
    }
    return out.subarray(0, n);
  }

  private keep(b: Buffer): void {
    this.total += b.length;
    if (this.headLen < this.headCap) {
      const take = Math.min(this.headCap - this.headLen, b.length);
      this.head.push(Buffer.from(b.subarray(0, take)));
      this.headLen += take;
      b = b.subarray(take);
      if (!b.length) return;
    }
    this.tail.push(Buffer.from(b));
    this.tailLen += b.length;
    while (this.tail.length > 1 && this.tailLen - this.tail[0].length >= this.tailCap) {
      this.tailLen -= this.tail.shift()!.length;
    }
  }

  get truncated(): boolean { return this.total > this.headCap + this.tailCap; }

  /**
   * The kept output as text. With `completeOnly` a trailing incomplete UTF-8 character is left
   * out (it arrives with the next live chunk).
   */
  render(completeOnly = false): { text: string; truncated: boolean; dropped: number } {
    let head = Buffer.concat(this.head, this.headLen);
    if (!this.truncated) {
      const all = Buffer.concat([head, ...this.tail]);
      return { text: all.subarray(0, completeOnly ? completeLength(all) : all.length).toString('utf8'), truncated: false, dropped: 0 };
    }
    let tail = Buffer.concat(this.tail, this.tailLen);
    tail = tail.subarray(tail.length - this.tailCap);
    tail = tail.subarray(firstCharStart(tail));
    if (completeOnly) tail = tail.subarray(0, completeLength(tail));
    head = head.subarray(0, completeLength(head));
    const dropped = this.total - head.length - tail.length;
    const marker = `\n[outpost: output truncated, ${dropped} bytes dropped]\n`;
    return { text: head.toString('utf8') + marker + tail.toString('utf8'), truncated: true, dropped };
  }
}
