import { Transform, type TransformCallback } from 'node:stream';

/** Signature, flags and header-extension length of PostgreSQL's binary COPY format. */
const HEADER_BYTES = 19;

/**
 * The bytes of every field of a binary `COPY … TO STDOUT (FORMAT binary)`, one after another,
 * without the format's framing (header, per-row field counts and lengths, trailer). The field
 * data passes through as slices of what arrives from the socket, so a large bytea column streams
 * with no copy and no buffer of its size.
 */
export class BinaryCopyFields extends Transform {
  /** a few bytes of framing split across two socket reads */
  private leftover = Buffer.alloc(0);
  /** bytes of the current field still to pass on */
  private fieldBytes = 0;
  private headerRead = false;
  private ended = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const buf = this.leftover.length ? Buffer.concat([this.leftover, chunk]) : chunk;
    let at = 0;
    while (at < buf.length && !this.ended) {
      if (this.fieldBytes > 0) {
        const n = Math.min(this.fieldBytes, buf.length - at);
        this.push(buf.subarray(at, at + n));
        at += n;
        this.fieldBytes -= n;
      } else if (!this.headerRead) {
        if (buf.length - at < HEADER_BYTES || buf.length - at < HEADER_BYTES + buf.readUInt32BE(at + 15)) break;
        at += HEADER_BYTES + buf.readUInt32BE(at + 15);
        this.headerRead = true;
      } else {
        if (buf.length - at < 2) break;
        if (buf.readInt16BE(at) === -1) {
          this.ended = true; // the trailer
          break;
        }
        if (buf.length - at < 6) break;
        this.fieldBytes = Math.max(0, buf.readInt32BE(at + 2)); // one field per row; -1 is null
        at += 6;
      }
    }
    this.leftover = at < buf.length && !this.ended ? Buffer.from(buf.subarray(at)) : Buffer.alloc(0);
    callback();
  }
}
