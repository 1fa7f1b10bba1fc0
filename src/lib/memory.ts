import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// V8 only offers `gc` when started with --expose-gc; setting the flag at runtime and fetching the
// function from a fresh context is the documented way to get it without changing how Node starts.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

const STEP_BYTES = 16 * 1024 * 1024;

/**
 * Keeps the memory of a long byte stream flat. Buffers that pass through the process (socket
 * reads, pieces of a file) live outside the JS heap, and V8 collects them only when the young
 * generation fills with JS objects, so hundreds of MB streamed would pile up as dead Buffers
 * before any collection runs. A young-generation collection (about a millisecond) every 16 MiB
 * frees them.
 */
export class StreamedBytes {
  private sinceCollection = 0;

  add(bytes: number): void {
    this.sinceCollection += bytes;
    if (this.sinceCollection >= STEP_BYTES) {
      this.sinceCollection = 0;
      gc({ type: 'minor' });
    }
  }
}
