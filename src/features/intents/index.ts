/**
 * The assistant's intents, shared by chat and voice: the tool registry (schemas/intents) and one
 * executor that runs each tool with the caller's permissions. The composition root builds it once
 * from the features that own the data: facts from doses, actions from doses and reports.
 */
import { ToolRegistry } from '../../ports/tool-registry.js';
import type { HubContext } from '../context.js';
import { noRecordedFacts, type PatientFacts } from '../conversations/facts.js';
import type { Identity } from '../identity/index.js';
import { createToolExecutor, type IntentActions, type ToolExecutor } from './executor.js';

export type { IntentActions, ToolExecutor, ToolRun, ToolScope } from './executor.js';

export interface Intents {
  registry: ToolRegistry;
  executor: ToolExecutor;
  facts: PatientFacts;
}

export function createIntents(ctx: Pick<HubContext, 'schemas'>, deps: { identity: Pick<Identity, 'policy' | 'audit'>; facts?: PatientFacts; actions?: IntentActions }): Intents {
  const registry = ToolRegistry.load({
    validate: (id, data) => {
      const result = ctx.schemas.check(id, data);
      return result.ok ? [] : result.details;
    },
  });
  const facts = deps.facts ?? noRecordedFacts;
  const executor = createToolExecutor({ registry, facts, policy: deps.identity.policy, audit: deps.identity.audit, ...(deps.actions ? { actions: deps.actions } : {}) });
  return { registry, executor, facts };
}
