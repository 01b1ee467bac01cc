/**
 * What the nodes' admin HTTP routes share (fabric-exceptions, xref, setup check, trigger backfill): registered once
 * per runtime, JSON bodies with a size limit, and a handler's promise answered as JSON with the failure's status.
 */
import express from 'express';
import { errorMessage, type NodeAPI, type Request, type Response } from './node-red-api';

/** Runs `register` the first time it is called for `name` in this runtime: a node module's code can run again. */
export function registerAdminRoutesOnce(RED: NodeAPI, name: string, register: () => void): void {
  const app = RED.httpAdmin as unknown as Record<symbol, boolean>;
  const key = Symbol.for(`ps-fabric.${name}.routes`);
  if (app[key]) return;
  app[key] = true;
  register();
}

/** The JSON body parser of an admin route, with the largest body it accepts. */
export function adminJson(limit: string): Parameters<NodeAPI['httpAdmin']['post']>[1] {
  return express.json({ limit }) as unknown as Parameters<NodeAPI['httpAdmin']['post']>[1];
}

/** A route handler answering what `fn` resolves with as JSON; a failure as `{ error, message }` with `failure`'s status. */
export function jsonAnswer(fn: (req: Request) => Promise<unknown>, failure: (err: unknown) => { status: number; error: string }) {
  return (req: Request, res: Response): void => {
    fn(req).then(
      (body) => res.json(body),
      (err: unknown) => {
        const f = failure(err);
        res.status(f.status).json({ error: f.error, message: errorMessage(err) });
      },
    );
  };
}
