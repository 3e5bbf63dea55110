// Guardrails: PII detection (emails, phone numbers, card numbers passing Luhn, IBANs passing
// mod-97, keys and secrets of common formats), regexes and deny-lists, each with an action:
// block (FAILED_PRECONDITION with a reason code), redact (the match becomes `[REDACTED:<reason>]`)
// or flag (logged and counted, text untouched). Decisions never carry the matched text.
import { Code, ConnectError } from "@connectrpc/connect";
import type { GuardAction, GuardRuleConfig, PiiKind } from "./config";

/** Error metadata (header / trailer) naming the reason of a blocked call. */
export const guardrailReasonHeader = "x-modelgate-guardrail";

export interface Detector {
  /** "pii.email", a regex rule's reason, ... */
  reason: string;
  pattern: RegExp;
  /** A string every match contains: texts without it are not scanned. */
  quick?: string;
  /** Extra check of a candidate (checksums): false drops it. */
  accept?: (match: string) => boolean;
}

export interface GuardRule {
  action: GuardAction;
  detectors: readonly Detector[];
}

export interface GuardDecision {
  reason: string;
  action: GuardAction;
  /** How many matches (never their text). */
  count: number;
}

function digits(s: string): string {
  return s.replace(/\D/g, "");
}

/** Luhn checksum of a 13-19 digit number. */
export function luhnValid(text: string): boolean {
  const d = digits(text);
  if (d.length < 13 || d.length > 19) return false;
  let sum = 0;
  for (let i = 0; i < d.length; i++) {
    let n = d.charCodeAt(d.length - 1 - i) - 48;
    if (i % 2 === 1) {
      n *= 2;
      if (n > 9) n -= 9;
    }
    sum += n;
  }
  return sum % 10 === 0;
}

/** ISO 13616 IBAN check: country, check digits, mod 97 = 1. */
export function ibanValid(text: string): boolean {
  const s = text.replace(/\s/g, "").toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(s)) return false;
  const moved = s.slice(4) + s.slice(0, 4);
  let rem = 0;
  for (const c of moved) {
    const v = c >= "A" ? String(c.charCodeAt(0) - 55) : c;
    for (const ch of v) rem = (rem * 10 + (ch.charCodeAt(0) - 48)) % 97;
  }
  return rem === 1;
}

const piiDetectors: Record<PiiKind, Detector[]> = {
  // The lookbehind starts a candidate only at the beginning of a run (linear, not per position).
  email: [{ reason: "pii.email", quick: "@", pattern: /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g }],
  card: [{ reason: "pii.card", pattern: /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])/g, accept: luhnValid }],
  iban: [{ reason: "pii.iban", pattern: /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b/g, accept: ibanValid }],
  // International (+CC ...) or grouped national numbers: 9 to 15 digits in all.
  phone: [
    {
      reason: "pii.phone",
      pattern:
        /(?<![\w+(])(?:(?:\+\d{1,3}[ .-]?)?\(\d{1,4}\)[ .-]?\d{2,4}(?:[ .-]?\d{2,4}){1,4}|\+\d{1,3}[ .-]?\d{2,4}(?:[ .-]?\d{2,4}){1,4}|\d{2,4}(?:[ .-]\d{2,4}){2,4})(?![\w])/g,
      accept: (m) => digits(m).length >= 9 && digits(m).length <= 15,
    },
  ],
  secret: [
    {
      reason: "pii.secret",
      pattern:
        /\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
    },
  ],
};
// Order matters: cards and IBANs before phone numbers (a card's digit groups look like a phone's).
const piiOrder: readonly PiiKind[] = ["secret", "email", "card", "iban", "phone"];

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
}

export function compileGuardRule(rule: GuardRuleConfig): GuardRule {
  if (rule.type === "pii") {
    const kinds = new Set(rule.kinds);
    return { action: rule.action, detectors: piiOrder.filter((k) => kinds.has(k)).flatMap((k) => piiDetectors[k]) };
  }
  if (rule.type === "regex") {
    return { action: rule.action, detectors: [{ reason: rule.reason, pattern: new RegExp(rule.pattern, rule.ignore_case ? "giu" : "gu") }] };
  }
  const alternatives = rule.terms.map((t) => escapeRegExp(t.trim()).replace(/\s+/g, "\\s+")).join("|");
  return { action: rule.action, detectors: [{ reason: rule.reason, pattern: new RegExp(`(?<![\\p{L}\\p{N}_])(?:${alternatives})(?![\\p{L}\\p{N}_])`, "giu") }] };
}

/** Matches of one detector in `text` (checksums applied). */
function matches(d: Detector, text: string): RegExpExecArray[] {
  const out: RegExpExecArray[] = [];
  if (d.quick !== undefined && !text.includes(d.quick)) return out;
  d.pattern.lastIndex = 0;
  for (let m = d.pattern.exec(text); m !== null; m = d.pattern.exec(text)) {
    if (m[0].length === 0) {
      d.pattern.lastIndex++;
      continue;
    }
    if (!d.accept || d.accept(m[0])) out.push(m);
  }
  return out;
}

/**
 * Runs the rules over one text: returns the text (redacted where a redact rule matched) and the
 * decisions, in rule order. A block decision stops the scan.
 */
export function checkText(rules: readonly GuardRule[], text: string, decisions: GuardDecision[]): string {
  if (!text) return text;
  for (const rule of rules) {
    for (const d of rule.detectors) {
      const found = matches(d, text);
      if (found.length === 0) continue;
      const prior = decisions.find((x) => x.reason === d.reason && x.action === rule.action);
      if (prior) prior.count += found.length;
      else decisions.push({ reason: d.reason, action: rule.action, count: found.length });
      if (rule.action === "block") return text;
      if (rule.action === "redact") {
        let out = "";
        let at = 0;
        for (const m of found) {
          out += text.slice(at, m.index) + `[REDACTED:${d.reason}]`;
          at = m.index + m[0].length;
        }
        text = out + text.slice(at);
      }
    }
  }
  return text;
}

export function blockedBy(decisions: readonly GuardDecision[]): GuardDecision | undefined {
  return decisions.find((d) => d.action === "block");
}

/** The error of a blocked input or output: FAILED_PRECONDITION naming the reason code. */
export function guardrailError(side: "input" | "output", reason: string): ConnectError {
  return new ConnectError(
    `guardrail blocked the ${side} (reason: ${reason})`,
    Code.FailedPrecondition,
    { [guardrailReasonHeader]: reason },
  );
}
