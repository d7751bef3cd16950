import type { ReportView } from '../../generated/http/report-view.js';
import type { ReportDoc } from './models.js';

export type { ReportView };

export function toReportView(report: ReportDoc): ReportView {
  return {
    id: String(report._id),
    patientId: String(report.patientId),
    kind: report.kind,
    symptom: report.symptom
      ? { name: report.symptom.name, severity: report.symptom.severity, notes: report.symptom.notes ?? null, startedAt: report.symptom.startedAt?.toISOString() ?? null }
      : null,
    help: report.help ? { urgency: report.help.urgency, reason: report.help.reason, alertId: report.help.alertId ? String(report.help.alertId) : null } : null,
    reportedBy: { userId: String(report.reportedBy.userId), role: report.reportedBy.role },
    source: report.source,
    sourceRef: report.sourceRef ?? null,
    createdAt: report.createdAt.toISOString(),
  };
}
