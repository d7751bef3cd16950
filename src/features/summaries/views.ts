import type { SummaryView } from '../../generated/http/summary-view.js';
import type { SummaryDoc } from './models.js';

export type { SummaryView };

export function toSummaryView(summary: SummaryDoc): SummaryView {
  return {
    id: String(summary._id),
    patientId: String(summary.patientId),
    period: summary.period,
    from: summary.from,
    to: summary.to,
    timeZone: summary.timeZone,
    facts: summary.facts,
    text: summary.text,
    writer: { kind: summary.writer.kind, provider: summary.writer.provider ?? null, model: summary.writer.model ?? null, errorCode: summary.writer.errorCode ?? null },
    generatedAt: summary.generatedAt.toISOString(),
  };
}
