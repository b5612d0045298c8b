/** Lifecycle events: what happened to a sandbox (created, paused, resumed, updated, killed...),
 * as `Sandbox.getEvents` returns them. */

import { type ConnectionOpts, type RequestOpts } from './http.js'
import { date } from './models.js'

/** One transition of a sandbox, e.g. `type: 'sandbox.lifecycle.paused'`, `data: {memory: true,
 * reason: 'request', sandbox_metadata: {...}}`. */
export interface LifecycleEvent {
  /** Unique: the same in every webhook delivery of it. */
  id: string
  /** Orders events: pass the last one's as `after` for the next page. */
  seq: number
  type: string
  sandboxId: string
  template: string
  timestamp: Date
  /** As the server sends it (its keys snake_case, as in the webhooks' bodies). */
  data: Record<string, unknown>
}

export interface GetEventsOpts extends ConnectionOpts, RequestOpts {
  /** Events per page (1-1000, default 100); a shorter page is the last. */
  limit?: number
  /** `'asc'` (default: oldest first) or `'desc'`. */
  direction?: 'asc' | 'desc'
  /** The `seq` of the last event of the previous page. */
  after?: number
}

export function lifecycleEvent(data: Record<string, any>): LifecycleEvent {
  return {
    id: data.id,
    seq: Number(data.seq),
    type: data.type,
    sandboxId: data.sandbox_id,
    template: data.template,
    timestamp: date(data.timestamp),
    data: data.data ?? {},
  }
}
