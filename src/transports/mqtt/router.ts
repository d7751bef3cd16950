/**
 * Routes device → hub publishes to feature handlers, one handler per topic
 * pattern (`v1/devices/:deviceId/events`). The router runs inside Aedes's
 * authorizePublish step, so for QoS 1 the PUBACK goes out only after the
 * handler resolved: an event is acknowledged once it is durably stored.
 *
 * Outcomes:
 *  - handled           → ack (PUBACK for QoS 1)
 *  - rejected (4xx)    → an `errors` reply to the device, ack, nothing stored
 *                        (resending a bad payload would never help)
 *  - failed (5xx)      → no ack: the device is disconnected and resends later
 *
 * A handler of messages that need no ack (QoS 0 heartbeats) may return at once
 * and hand its outcome to `settle`: a refusal is then told the same way, and a
 * failure is logged (there is no ack to withhold, and nothing will be resent).
 */
import type { MqttPrincipal } from './policy.js';

export interface InboundMessage<T = unknown> {
  principal: MqttPrincipal;
  topic: string;
  params: Record<string, string>;
  payload: T;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** Lets the broker move on: `outcome` is refused or logged when it settles, as if the handler had awaited it. */
  settle(outcome: Promise<unknown>): void;
}

export interface MqttRoute<T = unknown> {
  /** Topic pattern with `:name` segments, e.g. `v1/devices/:deviceId/events`. */
  pattern: string;
  /** Schema name in schemas/ (e.g. `mqtt/event`); the payload is JSON-parsed and validated first. */
  schema?: string;
  handle(message: InboundMessage<T>): Promise<void> | void;
}

interface CompiledRoute {
  segments: string[];
  route: MqttRoute;
}

export interface RouteMatch {
  route: MqttRoute;
  params: Record<string, string>;
}

export class MqttRouter {
  private readonly routes: CompiledRoute[] = [];

  add<T>(route: MqttRoute<T>): void {
    this.routes.push({ segments: route.pattern.split('/'), route: route as MqttRoute });
  }

  match(topic: string): RouteMatch | undefined {
    const levels = topic.split('/');
    for (const { segments, route } of this.routes) {
      const params = matchSegments(segments, levels);
      if (params) return { route, params };
    }
    return undefined;
  }
}

function matchSegments(segments: string[], levels: string[]): Record<string, string> | undefined {
  if (segments.length !== levels.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string;
    const level = levels[i] as string;
    if (segment.startsWith(':')) params[segment.slice(1)] = level;
    else if (segment !== level) return undefined;
  }
  return params;
}
