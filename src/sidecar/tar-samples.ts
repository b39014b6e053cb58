// Counts the samples in a WebDataset tar shard as wids counts them: regular files grouped by
// their path up to the first dot of the file name (`a/0001.jpg` and `a/0001.cls` are one sample),
// consecutive files with the same stem being one sample; files without a dot are not samples.
// Reads the stream once, block by block, keeping only the current header: a shard of any size
// costs a few KiB of memory. Understands ustar names (prefix + name), GNU long names (type L) and
// pax path records (type x); a truncated archive or a bad checksum is an error, never a count.
export class TarFormatError extends Error {
  override name = 'TarFormatError';
}

const BLOCK = 512;

function octal(block: Uint8Array, offset: number, length: number): number {
  const text = Buffer.from(block.subarray(offset, offset + length)).toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`a tar header field is not octal: ${JSON.stringify(text.slice(0, 20))}`);
  return parseInt(text, 8);
}

function cString(block: Uint8Array, offset: number, length: number): string {
  const end = block.subarray(offset, offset + length).indexOf(0);
  return Buffer.from(block.subarray(offset, end < 0 ? offset + length : offset + end)).toString('utf8');
}

function checksumOk(block: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (block[i] ?? 0);
  return sum === octal(block, 148, 8);
}

/** The sample key of a member path, as wids and webdataset split it; undefined when it has none. */
export function sampleKey(path: string): string | undefined {
  return /^((?:.*\/|)[^./]+)\.[^/]*$/.exec(path)?.[1];
}

/** Reads exactly what a tar stream holds, in blocks of 512 bytes. */
class BlockReader {
  private buffered: Buffer[] = [];
  private length = 0;
  private readonly it: AsyncIterator<Uint8Array>;
  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }
  /** `n` bytes, or fewer only at the end of the stream. */
  async read(n: number): Promise<Buffer> {
    while (this.length < n) {
      const r = await this.it.next();
      if (r.done) break;
      const b = Buffer.from(r.value);
      this.buffered.push(b);
      this.length += b.length;
    }
    // Usually the first chunk holds all of it: a view, nothing copied.
    const head = this.buffered[0];
    if (head !== undefined && head.length >= n) {
      if (head.length === n) this.buffered.shift();
      else this.buffered[0] = head.subarray(n);
      this.length -= n;
      return head.subarray(0, n);
    }
    const all = Buffer.concat(this.buffered);
    const out = all.subarray(0, n);
    const rest = all.subarray(out.length);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return out;
  }
  /** Skips `n` bytes without keeping them. */
  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.length === 0) {
        const r = await this.it.next();
        if (r.done) throw new TarFormatError('the tar archive ends inside a member');
        const b = Buffer.from(r.value);
        this.buffered = [b];
        this.length = b.length;
      }
      const head = this.buffered[0] ?? Buffer.alloc(0);
      const take = Math.min(left, head.length);
      if (take === head.length) this.buffered.shift();
      else this.buffered[0] = head.subarray(take);
      this.length -= take;
      left -= take;
    }
  }
}

export async function countSamples(source: AsyncIterable<Uint8Array>): Promise<number> {
  const r = new BlockReader(source);
  let samples = 0;
  let last: string | undefined;
  let longName: string | undefined;
  for (;;) {
    const block = await r.read(BLOCK);
    if (block.length === 0) break; // no end-of-archive blocks: accept, as tar does
    if (block.length < BLOCK) throw new TarFormatError('the tar archive ends inside a header');
    if (block.every((b) => b === 0)) break;
    if (!checksumOk(block)) throw new TarFormatError('a tar header has a bad checksum (is this a tar shard?)');
    const size = octal(block, 124, 12);
    const type = String.fromCharCode(block[156] ?? 0);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L' || type === 'x') {
      if (size > 1 << 20) throw new TarFormatError('a tar long-name record is over 1 MiB');
      const data = await r.read(padded);
      if (data.length < padded) throw new TarFormatError('the tar archive ends inside a member');
      const text = data.subarray(0, size).toString('utf8');
      if (type === 'L') longName = text.replace(/\0.*$/s, '');
      else {
        const path = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(text)?.[1];
        if (path !== undefined) longName = path;
      }
      continue;
    }
    const prefix = cString(block, 345, 155);
    const name = longName ?? (prefix ? `${prefix}/${cString(block, 0, 100)}` : cString(block, 0, 100));
    longName = undefined;
    await r.skip(padded);
    if (type !== '0' && type !== '\0') continue;
    const key = sampleKey(name);
    if (key === undefined) continue;
    if (key !== last) {
      samples++;
      last = key;
    }
  }
  return samples;
}
