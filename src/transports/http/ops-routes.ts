/**
 * Operations endpoints: /health says the process is alive; /ready says whether
 * it can serve (store, broker, Redis when configured), 503 naming the failing
 * parts otherwise; /metrics is Prometheus text.
 */
import type Router from '@koa/router';
import type { Metrics } from '../../observability/metrics.js';

export interface CheckResult {
  ok: boolean;
  [detail: string]: unknown;
}

export type ReadinessCheck = () => Promise<CheckResult>;

const CHECK_TIMEOUT_MS = 2000;

export function registerOpsRoutes(router: Router, metrics: Metrics, checks: Map<string, ReadinessCheck>, info: () => Record<string, unknown>): void {
  router.get('/health', (ctx) => {
    ctx.body = { status: 'ok', uptimeSeconds: Math.round(process.uptime()) };
  });

  router.get('/ready', async (ctx) => {
    const entries = await Promise.all([...checks].map(async ([name, check]) => [name, await runCheck(check)] as const));
    const results = Object.fromEntries(entries);
    const ready = entries.every(([, result]) => result.ok);
    ctx.status = ready ? 200 : 503;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: ready ? 'ready' : 'unavailable', checks: results, ...info() };
  });

  router.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
}

async function runCheck(check: ReadinessCheck): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, error: 'timed out' }), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([check(), timeout]);
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : 'failed' };
  } finally {
    clearTimeout(timer);
  }
}
