/**
 * Deterministic intent detection for the offline model: keyword rules over the patient's last message.
 *
 * Order matters and is chosen for safety: an emergency wins over everything; questions the plan can
 * answer win over "help" (so "help me with my plan" reads the plan instead of alerting the care team);
 * a dose the patient says they took is recorded only when it is not a question about one;
 * a described symptom wins over a vague request for help.
 */

export type Intent =
  | { kind: 'emergency' }
  | { kind: 'adherence' }
  | { kind: 'next_dose' }
  | { kind: 'plan' }
  | { kind: 'summary' }
  | { kind: 'took' }
  | { kind: 'symptom'; symptom: string; severity: Severity }
  | { kind: 'capabilities' }
  | { kind: 'help'; urgency: 'routine' | 'urgent' }
  | { kind: 'greeting' }
  | { kind: 'thanks' }
  | { kind: 'unknown' };

export type Severity = 'mild' | 'moderate' | 'severe';

const EMERGENCY = [
  /\b(emergency|ambulance|911|999|112)\b/,
  /chest pain|heart attack|\bstroke\b/,
  /(can't|cannot|can not) breathe|trouble breathing|short(ness)? of breath/,
  /\b(i|i've|i have) (just )?(fallen|fell)\b|\bfell (down|over)\b/,
  /\boverdose|(took|taken) too (many|much)|too many (pills|tablets|doses)|double (dose|my)|extra dose/,
  /\bunconscious\b|\bsuicid|bleeding (a lot|heavily)/,
];

const ADHERENCE = /how (am i|have i been) doing|adherence|how many (doses|pills|tablets)|did i (miss|take|forget)|have i (missed|taken|forgotten)|\bmissed\b|on track/;
const NEXT_DOSE = /next (dose|pill|tablet|medication|medicine|one)|when (do|should|will|must|can) i (take|have)|what time (do|should|is|will)|what('s| is) (due|next)|\bdue\b/;
const PLAN = /(medication|medicine|meds|pill|drug)s? (plan|list|schedule)|what (medications|medicines|meds|pills|tablets|drugs) (do|am|should) i|\bmy (plan|schedule)\b|what do i take|what am i taking|list my/;
/** "I took my Metformin": a statement (questions like "did I take" are adherence, read first). */
const TOOK = /\bi('ve| have)? (just |already )?(took|taken)\b|\bi just had\b/;
/** Doubt or denial around "I took": never a confirmation ("I don't think I took it", "not sure I've taken"). */
const UNSURE = /\b(don't|do not|didn't|did not|not|sure|unsure|never|none|nothing|no|can't|cannot|remember|forgot|forget|think|believe|guess|doubt|probably|perhaps|maybe|might|certain|if|whether)\b|\?/;
/** A time other than now ("yesterday", "this morning", "two hours ago", "at 8"): the rules cannot say which dose, so they record none. */
const ANOTHER_TIME = /\b(yesterday|last night|(this|in the|last) (morning|afternoon|evening)|tonight|earlier|ago|hours?|minutes?|at \d|\d{1,2}(:\d\d)? ?(am|pm|h)|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b/;
/** Taking, in any form ("I accidentally took", "I've had"): with MORE_THAN_ONE, a possible overdose. */
const TAKING = /\b(took|taken)\b|\bhad (\w+ ){0,2}(doses?|pills?|tablets?|medication|medicine|meds)\b/;
/** "twice", "too much", "a second dose": more than the dose, never a dose to record. */
const MORE_THAN_ONE = /\b(twice|again|two times|too (many|much)|extra|double|(second|another|two) (doses?|pills?|tablets?|one))\b/;
const SUMMARY = /\bsummar(y|ise|ize)\b|\boverview\b/;
const CAPABILITIES = /what can you (do|help)|how (do|can) you help|can you help|who are you/;
const HELP = /help me|i need help|need (some )?help|get help|send help|please help|^help\b|(call|contact|tell|get) (my |the )?(caregiver|carer|nurse|doctor|daughter|son|family|wife|husband|someone|care team)/;
const URGENT = /\b(urgent|urgently|now|right away|asap|quickly|immediately|soon)\b/;
const GREETING = /^(hi|hello|hey|hallo|good (morning|afternoon|evening))\b/;
const THANKS = /\b(thanks|thank you|cheers)\b/;

/** Specific symptoms before the generic ones, so "stomach pain" is not just "pain". */
const SYMPTOMS: ReadonlyArray<readonly [string, RegExp]> = [
  ['headache', /headache|head hurts|migraine/],
  ['dizziness', /dizz|light-?headed|vertigo/],
  ['vomiting', /vomit|threw up|throwing up/],
  ['nausea', /nause|feel(ing)? sick|queasy/],
  ['stomach pain', /stomach ?(ache|pain|hurts)|tummy|belly ?ache|abdominal pain/],
  ['diarrhoea', /diarrh/],
  ['constipation', /constipat/],
  ['rash', /\brash\b|hives|itch/],
  ['fatigue', /tired|exhausted|fatigue|no energy|weakness|\bweak\b/],
  ['cough', /\bcough/],
  ['fever', /fever|temperature|chills/],
  ['swelling', /swell|swollen/],
  ['trouble sleeping', /can't sleep|insomnia|trouble sleeping/],
  ['anxiety', /anxious|anxiety|panic|nervous/],
  ['pain', /\b(pain|hurts|sore|aching|ache)\b/],
  ['feeling unwell', /feel(ing)? (unwell|ill|bad|awful|terrible|off|poorly)|not feeling (so |very )?well|feel(ing)? not (so |very )?well|\bi'm sick\b/],
];

const SEVERE = /\b(severe|severely|terrible|awful|really bad|very bad|unbearable|worst|excruciating|extreme)\b/;
const MILD = /\b(slight|slightly|a little|a bit|mild|mildly|minor)\b/;

/** Lower-case, straight apostrophes, single spaces: the rules are written against this form. */
export function normalise(text: string): string {
  return text.toLowerCase().replace(/[\u2018\u2019]/g, "'").replace(/\s+/g, ' ').trim();
}

export function detectIntent(message: string): Intent {
  const text = normalise(message);
  if (EMERGENCY.some((rule) => rule.test(text))) return { kind: 'emergency' };
  if (TAKING.test(text) && MORE_THAN_ONE.test(text)) return { kind: 'emergency' };
  if (ADHERENCE.test(text)) return { kind: 'adherence' };
  if (NEXT_DOSE.test(text)) return { kind: 'next_dose' };
  if (PLAN.test(text)) return { kind: 'plan' };
  if (SUMMARY.test(text)) return { kind: 'summary' };
  if (TOOK.test(text)) return UNSURE.test(text) || ANOTHER_TIME.test(text) ? { kind: 'adherence' } : { kind: 'took' };
  const symptom = SYMPTOMS.find(([, rule]) => rule.test(text));
  if (symptom) return { kind: 'symptom', symptom: symptom[0], severity: severityOf(text) };
  if (CAPABILITIES.test(text)) return { kind: 'capabilities' };
  if (HELP.test(text)) return { kind: 'help', urgency: URGENT.test(text) ? 'urgent' : 'routine' };
  if (GREETING.test(text)) return { kind: 'greeting' };
  if (THANKS.test(text)) return { kind: 'thanks' };
  return { kind: 'unknown' };
}

function severityOf(text: string): Severity {
  if (SEVERE.test(text)) return 'severe';
  if (MILD.test(text)) return 'mild';
  return 'moderate';
}
