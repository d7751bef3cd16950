/**
 * Runs the assistant's tools (schemas/intents, via the ToolRegistry) for chat and voice alike, with the
 * permissions of the user who asked: each call is checked against the policy, recorded in the audit
 * log (`assistant.tool.<name>`), and answered with a JSON string for the model (`{"ok":true,…}` or
 * `{"ok":false,"error":{code,message}}`; a registry error message is passed on unchanged so the model
 * can correct its call).
 *
 * The read-only tools answer from `PatientFacts`, and say plainly when nothing is recorded (no plan
 * yet). The tools that change data (`confirm_dose`, `log_symptom`, `request_help`) run through
 * `IntentActions` — the doses and reports features' own services, so they are checked, audited and
 * told to caregivers exactly as the REST routes are. Without actions (a hub embedding only the chat),
 * they are not offered, and a model that calls one anyway gets `not_available`.
 */
import { AppError } from '../../errors.js';
import type { AdherencePeriod, ToolCall, ToolDefinition } from '../../ports/language-model.js';
import type { ToolName, ToolRegistry } from '../../ports/tool-registry.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { FactsPatient, PatientFacts } from '../conversations/facts.js';
import { localDateTime } from '../conversations/prompt.js';
import type { NamedConfirmation, NamedConfirmed } from '../doses/confirm-named.js';
import { audited, type Actor } from '../identity/actor.js';
import type { PatientAction, Policy } from '../identity/policy.js';
import type { HelpInput, ReportOrigin, SymptomInput } from '../reports/service.js';
import type { ReportView } from '../reports/views.js';

export interface ToolRun {
  id: string;
  name: string;
  ok: boolean;
  errorCode: string | null;
  /** The model's raw arguments, capped for storage. */
  arguments: string;
  /** What was sent back to the model. */
  result: string;
  /** True when a tool that changes the record ran and succeeded: asking again would record it again. */
  changed: boolean;
}

export interface ToolScope {
  actor: Actor;
  patient: FactsPatient;
  now: Date;
  /**
   * Where the call came from (chat: the conversation; voice: the session), kept with what it records.
   * `key`, when set, names what is asking (chat: the answer; voice: the session): each call's own key is
   * `<key>:<call id>`, so a call run again records nothing twice.
   */
  origin: ReportOrigin;
}

/** What the mutating tools do: the services behind the REST routes of the same actions. */
export interface IntentActions {
  confirmDose(actor: Actor, patientId: string, input: NamedConfirmation): Promise<NamedConfirmed>;
  logSymptom(actor: Actor, patientId: string, input: SymptomInput, origin: ReportOrigin): Promise<ReportView>;
  requestHelp(actor: Actor, patientId: string, input: HelpInput, origin: ReportOrigin): Promise<ReportView>;
}

export interface ToolExecutor {
  /** Tools offered to the model. */
  offered(): ToolDefinition[];
  /** The system prompt's lines on what the assistant can do with them. */
  capabilities(): string;
  run(call: ToolCall, scope: ToolScope): Promise<ToolRun>;
}

const READS: Partial<Record<ToolName, PatientAction>> = {
  get_next_dose: 'dose.read',
  get_adherence: 'dose.read',
  get_medication_plan: 'plan.read',
};

const NO_PLAN = 'No medication plan is recorded for this patient yet.';
const NOT_AVAILABLE = 'This action is not available here. Tell the person to contact their care team directly.';
const MAX_STORED = 4000;

/** What the model is told when a tool fails for a reason it cannot fix: never a silent success. */
const FAILED: Record<ToolName, string> = {
  get_next_dose: 'The lookup failed. Tell the person you could not check this right now.',
  get_adherence: 'The lookup failed. Tell the person you could not check this right now.',
  get_medication_plan: 'The lookup failed. Tell the person you could not check this right now.',
  confirm_dose: 'The dose could NOT be recorded. Tell the person it was not saved, and to record it in the app or tell their care team.',
  log_symptom: 'The symptom could NOT be recorded. Tell the person to tell their care team directly.',
  request_help: 'The care team could NOT be alerted. Tell the person to contact them directly now, or to call their local emergency number in an emergency.',
};

type Result = Record<string, unknown>;

const READ_ONLY_CAPABILITIES =
  '- You cannot record symptoms, confirm doses or alert the care team here. If asked to, say so and suggest contacting the care team directly.';

const ACTING_CAPABILITIES = [
  '- When the person clearly says a dose was taken, record it with confirm_dose: never on a guess, a plan to take it later, or a question.',
  '- When the person describes a symptom they feel, record it with log_symptom. It alerts nobody.',
  '- When the person asks for help or describes danger (a fall, chest pain, an overdose), call request_help; in an emergency also tell them to call their local emergency number now.',
  '- These tools change the record: call each once for what the person said, then tell them plainly what was recorded, or that it failed.',
].join('\n');

export function createToolExecutor(deps: { registry: ToolRegistry; facts: PatientFacts; policy: Policy; audit: AuditLog; actions?: IntentActions }): ToolExecutor {
  const { registry, facts, policy, audit, actions } = deps;
  const offered = actions ? registry.definitions() : registry.definitions({ mutates: false });

  async function lookUp(name: ToolName, args: Record<string, unknown>, scope: ToolScope): Promise<Result> {
    const { patient, now } = scope;
    await policy.assertPatient(scope.actor.principal, patient.id, READS[name] as PatientAction);
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
          // occurrence_id: what confirm_dose takes to name this exact dose.
          doses: together.map((dose) => ({ occurrence_id: dose.occurrenceId, medication: dose.medicationName, strength: dose.strength ?? null, dueAt: dose.dueAt })),
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
        return failure('not_available', NOT_AVAILABLE);
    }
  }

  async function act(acts: IntentActions, name: ToolName, args: Record<string, unknown>, scope: ToolScope, callId: string): Promise<Result> {
    const { actor, patient } = scope;
    const origin = scope.origin.key ? { ...scope.origin, key: `${scope.origin.key}:${callId}` } : scope.origin;
    switch (name) {
      case 'confirm_dose': {
        const { medication, dose, alreadyRecorded } = await acts.confirmDose(actor, patient.id, {
          medication: String(args['medication']),
          ...(typeof args['occurrence_id'] === 'string' ? { occurrenceId: args['occurrence_id'] } : {}),
          ...(typeof args['taken_at'] === 'string' ? { takenAt: args['taken_at'] } : {}),
        });
        const takenAtLocal = dose.takenAt ? localDateTime(dose.takenAt, patient.timeZone) : null;
        const dueAtLocal = localDateTime(dose.dueAt, patient.timeZone);
        return {
          ok: true,
          recorded: true,
          alreadyRecorded,
          medication: medication.name,
          occurrence_id: dose.id,
          dueAtLocal,
          state: dose.state,
          takenAtLocal,
          message: alreadyRecorded
            ? `The ${medication.name} dose due ${dueAtLocal} was already recorded as taken${takenAtLocal ? ` at ${takenAtLocal}` : ''}. Nothing was changed.`
            : `Recorded: the ${medication.name} dose due ${dueAtLocal} was taken${dose.state === 'late' ? ' (late)' : ''}.`,
        };
      }
      case 'log_symptom': {
        const report = await acts.logSymptom(actor, patient.id, {
          symptom: String(args['symptom']),
          severity: args['severity'] as SymptomInput['severity'],
          ...(typeof args['notes'] === 'string' ? { notes: args['notes'] } : {}),
          ...(typeof args['started_at'] === 'string' ? { startedAt: args['started_at'] } : {}),
        }, origin);
        return { ok: true, recorded: true, reportId: report.id, message: 'Recorded for the care team to see. It does not alert anyone: if the person needs help, call request_help.' };
      }
      case 'request_help': {
        const urgency = args['urgency'] as HelpInput['urgency'];
        const report = await acts.requestHelp(actor, patient.id, { urgency, reason: String(args['reason']) }, origin);
        return {
          ok: true,
          alerted: true,
          reportId: report.id,
          alertId: report.help?.alertId ?? null,
          urgency,
          message: urgency === 'emergency'
            ? 'The care team has been alerted. This alert does not reach emergency services: tell the person to call their local emergency number now.'
            : 'The care team has been alerted and will get in touch.',
        };
      }
      default:
        return lookUp(name, args, scope);
    }
  }

  return {
    offered: () => offered,
    capabilities: () => (actions ? ACTING_CAPABILITIES : READ_ONLY_CAPABILITIES),

    async run(call, scope) {
      const record = (ok: boolean, errorCode: string | null, result: Result, changed = false): ToolRun => ({
        id: call.id,
        name: call.name,
        ok,
        errorCode,
        arguments: call.arguments.slice(0, MAX_STORED),
        result: JSON.stringify(result).slice(0, MAX_STORED),
        changed,
      });
      const parsed = registry.parseArguments(call.name, call.arguments);
      if (!parsed.ok) return record(false, parsed.error.code, failure(parsed.error.code, parsed.error.message));
      const { tool } = parsed;
      if (!offered.some((definition) => definition.name === tool.name)) return record(false, 'not_available', failure('not_available', NOT_AVAILABLE));
      try {
        const result = await audited(audit, scope.actor, { action: `assistant.tool.${tool.name}`, objectType: 'patient', objectId: scope.patient.id }, () =>
          tool.mutates && actions ? act(actions, tool.name, parsed.arguments, scope, call.id) : lookUp(tool.name, parsed.arguments, scope),
        );
        return record(true, null, result, tool.mutates);
      } catch (error) {
        if (error instanceof AppError && error.expose) return record(false, error.code, failure(error.code, error.message));
        return record(false, 'failed', failure('failed', FAILED[tool.name]));
      }
    },
  };
}

function failure(code: string, message: string): Result {
  return { ok: false, error: { code, message } };
}
