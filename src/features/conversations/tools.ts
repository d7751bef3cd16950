/**
 * Runs the assistant's tools (schemas/intents, via the ToolRegistry) for one turn, with the
 * permissions of the user who asked: each call is checked against the policy, recorded in the audit
 * log (`assistant.tool.<name>`), and answered with a JSON string for the model (`{"ok":true,…}` or
 * `{"ok":false,"error":{code,message}}`; a registry error message is passed on unchanged so the model
 * can correct its call).
 *
 * Offered now: the read-only tools. They answer from `PatientFacts`, and say plainly when nothing is
 * recorded (no plan yet). The tools that change data (`log_symptom`, `confirm_dose`, `request_help`)
 * are not offered until the doses and alerts features can run them; a model that calls one anyway gets
 * `not_available`.
 */
import { AppError } from '../../errors.js';
import type { AdherencePeriod, ToolCall, ToolDefinition } from '../../ports/language-model.js';
import type { ToolName, ToolRegistry } from '../../ports/tool-registry.js';
import type { AuditLog } from '../audit/audit-log.js';
import { audited, type Actor } from '../identity/actor.js';
import type { PatientAction, Policy } from '../identity/policy.js';
import type { FactsPatient, PatientFacts } from './facts.js';
import { localDateTime } from './prompt.js';

export interface ToolRun {
  id: string;
  name: string;
  ok: boolean;
  errorCode: string | null;
  /** The model's raw arguments, capped for storage. */
  arguments: string;
  /** What was sent back to the model. */
  result: string;
}

export interface ToolScope {
  actor: Actor;
  patient: FactsPatient;
  now: Date;
}

export interface ToolExecutor {
  /** Tools offered to the model this turn. */
  offered(): ToolDefinition[];
  run(call: ToolCall, scope: ToolScope): Promise<ToolRun>;
}

const READS: Partial<Record<ToolName, PatientAction>> = {
  get_next_dose: 'dose.read',
  get_adherence: 'dose.read',
  get_medication_plan: 'plan.read',
};

const NO_PLAN = 'No medication plan is recorded for this patient yet.';
const MAX_STORED = 4000;

type Result = Record<string, unknown>;

export function createToolExecutor(deps: { registry: ToolRegistry; facts: PatientFacts; policy: Policy; audit: AuditLog }): ToolExecutor {
  const { registry, facts, policy, audit } = deps;
  const offered = registry.definitions({ mutates: false });

  async function lookUp(name: ToolName, args: Record<string, unknown>, scope: ToolScope): Promise<Result> {
    const { patient, now } = scope;
    switch (name) {
      case 'get_medication_plan': {
        const plan = await facts.plan(patient);
        if (plan === null) return { ok: true, recorded: false, message: `${NO_PLAN} There are no medications to list.` };
        return { ok: true, recorded: true, timeZone: patient.timeZone, medications: plan };
      }
      case 'get_next_dose': {
        const plan = await facts.plan(patient);
        if (plan === null) return { ok: true, recorded: false, message: `${NO_PLAN} There is no next dose to report.` };
        const wanted = typeof args['medication'] === 'string' ? args['medication'].toLowerCase() : undefined;
        const doses = (await facts.upcomingDoses(patient, now, 20))
          .filter((dose) => !wanted || dose.medicationName.toLowerCase().includes(wanted))
          .sort((a, b) => Date.parse(a.dueAt) - Date.parse(b.dueAt));
        const first = doses[0];
        if (!first) return { ok: true, recorded: true, nextDose: null, message: wanted ? `No upcoming dose of ${String(args['medication'])} is scheduled.` : 'No upcoming doses are scheduled.' };
        const together = doses.filter((dose) => dose.dueAt === first.dueAt);
        return {
          ok: true,
          recorded: true,
          timeZone: patient.timeZone,
          dueAtLocal: localDateTime(first.dueAt, patient.timeZone),
          doses: together.map((dose) => ({ medication: dose.medicationName, strength: dose.strength ?? null, dueAt: dose.dueAt })),
        };
      }
      case 'get_adherence': {
        const range = args['range'] as AdherencePeriod;
        const medication = typeof args['medication'] === 'string' ? args['medication'] : undefined;
        const summary = await facts.adherence(patient, range, now, medication);
        if (summary === null) return { ok: true, recorded: false, range, message: `No dose records exist for this patient yet, so adherence for ${range.replace(/_/g, ' ')} cannot be reported. ${NO_PLAN}` };
        return {
          ok: true,
          recorded: true,
          range,
          scheduled: summary.scheduled,
          taken: summary.taken,
          missed: summary.missed ?? 0,
          unknown: summary.unknown ?? 0,
          note: 'Doses with no record (dispenser offline) are unknown, not missed.',
        };
      }
      default:
        return failure('not_available', 'This action is not available in this chat yet. Tell the person to contact their care team directly.');
    }
  }

  return {
    offered: () => offered,

    async run(call, scope) {
      const record = (ok: boolean, errorCode: string | null, result: Result): ToolRun => ({
        id: call.id,
        name: call.name,
        ok,
        errorCode,
        arguments: call.arguments.slice(0, MAX_STORED),
        result: JSON.stringify(result).slice(0, MAX_STORED),
      });
      const parsed = registry.parseArguments(call.name, call.arguments);
      if (!parsed.ok) return record(false, parsed.error.code, failure(parsed.error.code, parsed.error.message));
      const tool = parsed.tool;
      const needs = READS[tool.name];
      if (!needs || !offered.some((definition) => definition.name === tool.name)) {
        return record(false, 'not_available', failure('not_available', 'This action is not available in this chat yet. Tell the person to contact their care team directly.'));
      }
      try {
        const result = await audited(audit, scope.actor, { action: `assistant.tool.${tool.name}`, objectType: 'patient', objectId: scope.patient.id }, async () => {
          await policy.assertPatient(scope.actor.principal, scope.patient.id, needs);
          return lookUp(tool.name, parsed.arguments, scope);
        });
        return record(true, null, result);
      } catch (error) {
        if (error instanceof AppError && error.expose) return record(false, error.code, failure(error.code, error.message));
        return record(false, 'failed', failure('failed', 'The lookup failed. Tell the person you could not check this right now.'));
      }
    },
  };
}

function failure(code: string, message: string): Result {
  return { ok: false, error: { code, message } };
}
