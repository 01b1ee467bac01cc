/**
 * MQTT packet size limit for the embedded broker.
 *
 * aedes 1.2 builds its `mqtt-packet` parser without a size limit and buffers a whole packet before
 * parsing it, so a client announcing a 256 MB remaining length makes the broker buffer 256 MB. This
 * guard follows the MQTT framing (fixed header byte + variable-length "remaining length") on the bytes
 * aedes reads from the connection and destroys the connection as soon as a header announces a packet
 * larger than `maxBytes` — before its body is buffered.
 *
 * It wraps the connection's `read()` (the only way aedes pulls bytes: `conn.on('readable')` +
 * `conn.read(null)`), so it works for TCP sockets and WebSocket streams alike with no extra stream.
 */
import type { Duplex } from 'node:stream';

export class PacketTooLargeError extends Error {
  constructor(readonly size: number, readonly limit: number) {
    super(`MQTT packet of ${size} bytes exceeds the broker limit of ${limit} bytes`);
    this.name = 'PacketTooLargeError';
  }
}

/** Incremental MQTT frame scanner: feed it chunks; it throws PacketTooLargeError on an oversize header. */
export class FrameScanner {
  /** 0: expecting fixed header byte; 1: reading remaining length; 2: skipping body. */
  private state = 0;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private toSkip = 0;

  constructor(private readonly maxBytes: number) {}

  scan(buf: Buffer): void {
    let i = 0;
    while (i < buf.length) {
      if (this.state === 2) {
        const n = Math.min(this.toSkip, buf.length - i);
        this.toSkip -= n;
        i += n;
        if (this.toSkip === 0) this.state = 0;
        continue;
      }
      const byte = buf[i++];
      if (this.state === 0) {
        this.state = 1;
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
        continue;
      }
      // state 1: remaining length, 7 bits per byte, at most 4 bytes
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      const total = 1 + this.lengthBytes + this.length;
      if (total > this.maxBytes) throw new PacketTooLargeError(total, this.maxBytes);
      if ((byte & 0x80) === 0 || this.lengthBytes >= 4) {
        // a malformed 5th length byte is left to mqtt-packet, which rejects it
        this.toSkip = this.length;
        this.state = this.toSkip > 0 ? 2 : 0;
      }
    }
  }
}

/**
 * Installs the guard on a connection. `onOversize` is told (for stats/logging); the connection is destroyed.
 */
export function guardPacketSize(conn: Duplex, maxBytes: number, onOversize: (err: PacketTooLargeError) => void): void {
  if (!(maxBytes > 0)) return;
  const scanner = new FrameScanner(maxBytes);
  const originalRead = conn.read.bind(conn);
  let tripped = false;
  conn.read = function guardedRead(size?: number) {
    if (tripped) return null;
    const chunk = originalRead(size);
    if (chunk && Buffer.isBuffer(chunk)) {
      try {
        scanner.scan(chunk);
      } catch (err) {
        tripped = true;
        onOversize(err as PacketTooLargeError);
        conn.destroy(err as Error);
        return null;
      }
    }
    return chunk;
  };
}
