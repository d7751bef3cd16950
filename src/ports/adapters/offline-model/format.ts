/**
 * Wording helpers for the offline model: times in the patient's zone, lists, plurals.
 * Everything here is total: bad input degrades (UTC, skipped entries) and never throws.
 */

export function safeTimeZone(zone: string): string {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: zone });
    return zone;
  } catch {
    return 'UTC';
  }
}

export function parseInstant(value: string): Date | undefined {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** `20:00`: 24-hour clock, unambiguous in speech and text. */
export function localTime(instant: Date, zone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(instant);
}

/** `at 20:00`, `tomorrow at 08:00`, or `on Tuesday 11 March at 08:00`, relative to `now` in the zone. */
export function describeWhen(instant: Date, now: Date, zone: string): string {
  const time = localTime(instant, zone);
  const days = calendarDaysBetween(now, instant, zone);
  if (days === 0) return `at ${time}`;
  if (days === 1) return `tomorrow at ${time}`;
  const date = new Intl.DateTimeFormat('en-GB', { timeZone: zone, weekday: 'long', day: 'numeric', month: 'long' }).format(instant);
  return `on ${date} at ${time}`;
}

function calendarDaysBetween(from: Date, to: Date, zone: string): number {
  return Math.round((localMidnightUtc(to, zone) - localMidnightUtc(from, zone)) / 86_400_000);
}

/** The local calendar date of `instant`, as a UTC timestamp of that date's midnight (for day arithmetic). */
function localMidnightUtc(instant: Date, zone: string): number {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(instant);
  const part = (type: string): number => Number(parts.find((p) => p.type === type)?.value);
  return Date.UTC(part('year'), part('month') - 1, part('day'));
}

/** `a`, `a and b`, `a, b and c`. */
export function joinList(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1) ?? ''}`;
}

export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}

export function medicationLabel(name: string, strength?: string): string {
  return strength ? `${name} ${strength}` : name;
}

/** Cuts text to `max` characters at a word boundary, for tool arguments with a maxLength. */
export function clip(text: string, max: number): string {
  const trimmed = text.trim().replace(/\s+/g, ' ');
  if (trimmed.length <= max) return trimmed;
  const cut = trimmed.slice(0, max - 1);
  return `${cut.slice(0, cut.lastIndexOf(' ') > 0 ? cut.lastIndexOf(' ') : cut.length)}…`;
}

/** Splits text into streamable word tokens whose concatenation is the text: `["Your", " next", …]`. */
export function wordTokens(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}
