/**
 * Bounded time series for the dashboard's charts: one ring buffer per series name (e.g. `open exceptions`),
 * sampled by the ops-feed node on every tick. Memory stays bounded however long the runtime runs.
 */
export interface Point {
  t: number;
  v: number;
}

export class SeriesBuffer {
  private readonly series = new Map<string, Point[]>();

  constructor(readonly capacity = 720) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`series capacity must be a positive integer, got ${capacity}`);
  }

  push(name: string, t: number, v: number | null | undefined): void {
    if (v === null || v === undefined || !Number.isFinite(v)) return;
    let list = this.series.get(name);
    if (!list) this.series.set(name, (list = []));
    list.push({ t, v });
    if (list.length > this.capacity) list.splice(0, list.length - this.capacity);
  }

  points(name: string): Point[] {
    return [...(this.series.get(name) ?? [])];
  }

  names(): string[] {
    return [...this.series.keys()];
  }

  latest(name: string): Point | undefined {
    const list = this.series.get(name);
    return list?.[list.length - 1];
  }

  clear(): void {
    this.series.clear();
  }
}
