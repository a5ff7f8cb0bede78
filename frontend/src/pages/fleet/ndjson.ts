/**
 * NDJSON over fetch: a framing parser (pure, testable without a network) and a reader
 * that feeds a `ReadableStream<Uint8Array>` through it as chunks arrive.
 */

/** Splits NDJSON text into JSON values; chunks may cut lines (and UTF-8 sequences) anywhere. */
export class NdjsonParser<T = unknown> {
  private buffer = "";
  private readonly decoder = new TextDecoder();

  /** Feeds bytes or text; returns every value completed by it. */
  push(chunk: Uint8Array | string): T[] {
    this.buffer += typeof chunk === "string" ? chunk : this.decoder.decode(chunk, { stream: true });
    const out: T[] = [];
    let start = 0;
    for (;;) {
      const nl = this.buffer.indexOf("\n", start);
      if (nl === -1) break;
      const line = this.buffer.slice(start, nl).trim();
      start = nl + 1;
      if (line) out.push(JSON.parse(line) as T);
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  /** The last value when the stream ended without a final newline. */
  flush(): T[] {
    this.buffer += this.decoder.decode();
    const rest = this.buffer.trim();
    this.buffer = "";
    return rest ? [JSON.parse(rest) as T] : [];
  }
}

/**
 * Reads an NDJSON body to its end, calling `onItems` with each batch of values as it
 * arrives. Resolves when the stream ends; rejects on a read error (an abort included).
 */
export async function readNdjson<T>(body: ReadableStream<Uint8Array>, onItems: (items: T[]) => void): Promise<void> {
  const parser = new NdjsonParser<T>();
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const items = parser.push(value);
      if (items.length) onItems(items);
    }
    const rest = parser.flush();
    if (rest.length) onItems(rest);
  } finally {
    reader.releaseLock();
  }
}
