// Feedback on answers (FeedbackService), added up per endpoint, target and model version. The
// gateway remembers its recent calls (request id -> who made it, what answered) in a bounded
// insertion-ordered map, so feedback needs no store round trip and names the arm that answered.
// Metric labels are bounded: endpoints and targets come from the config, model versions from the
// registry, and feedback names and labels are capped per endpoint / per name ("other" past it).
import { LRUCache } from "lru-cache";
import { Counter, Gauge, type Registry } from "prom-client";

/** What the gateway keeps of a finished call, for its feedback. */
export interface RememberedCall {
  keyId: string;
  team: string;
  endpoint: string;
  target: string;
  model: string;
  modelVersion: string;
}

export interface Feedback {
  name: string;
  score?: number;
  label?: string;
}

/** The metrics' label value for names and labels past the caps. */
export const otherFeedback = "other";
const maxNamesPerEndpoint = 20;
const maxLabelsPerName = 20;

interface Arm {
  count: number;
  scored: number;
  scoreSum: number;
  labels: Map<string, number>;
}

export class FeedbackBook {
  /**
   * Recent calls by request id. An LRU cache, not a Map trimmed from its front: V8 leaves a deleted
   * Map entry as a hole until the table is rebuilt, so finding the oldest key of a full Map that
   * loses its first entry on every call skips ever more holes (24-93 µs a call at 100k entries;
   * per-call CPU grew by ~150 µs after the first 50k calls).
   */
  private readonly calls: LRUCache<string, RememberedCall>;
  /** endpoint -> feedback name -> "target\u0000modelVersion" -> arm. */
  private readonly arms = new Map<string, Map<string, Map<string, Arm>>>();
  /** Distinct labels seen per endpoint and name (the cap). */
  private readonly labelsSeen = new Map<string, Set<string>>();

  constructor(
    registry: Registry,
    capacity = 50_000,
  ) {
    this.calls = new LRUCache({ max: capacity });
    const registers = [registry];
    const each = (visit: (labels: [string, string, string, string], arm: Arm) => void) => {
      for (const [endpoint, names] of this.arms) {
        for (const [name, byArm] of names) {
          for (const [key, arm] of byArm) {
            const [target, modelVersion] = key.split("\u0000") as [string, string];
            visit([endpoint, target, modelVersion, name], arm);
          }
        }
      }
    };
    const armLabels = ["endpoint", "target", "model_version", "name"] as const;
    new Counter({
      name: "modelgate_feedback_total",
      help: "Feedback posted (FeedbackService) by endpoint, target, model version and feedback name",
      labelNames: armLabels,
      registers,
      collect() {
        this.reset();
        each((l, arm) => this.labels(...l).inc(arm.count));
      },
    });
    new Counter({
      name: "modelgate_feedback_scored_total",
      help: "Feedback with a score, by arm and name (the mean score: modelgate_feedback_score_sum / this)",
      labelNames: armLabels,
      registers,
      collect() {
        this.reset();
        each((l, arm) => {
          if (arm.scored > 0) this.labels(...l).inc(arm.scored);
        });
      },
    });
    new Gauge({
      name: "modelgate_feedback_score_sum",
      help: "Sum of the feedback scores by arm and name, a gauge as scores may be negative (mean: this / modelgate_feedback_scored_total; over a window: delta() / increase())",
      labelNames: armLabels,
      registers,
      collect() {
        this.reset();
        each((l, arm) => {
          if (arm.scored > 0) this.labels(...l).set(arm.scoreSum);
        });
      },
    });
    new Counter({
      name: "modelgate_feedback_labels_total",
      help: "Feedback labels by arm, name and label",
      labelNames: [...armLabels, "label"],
      registers,
      collect() {
        this.reset();
        each((l, arm) => {
          for (const [label, n] of arm.labels) this.labels(...l, label).inc(n);
        });
      },
    });
  }

  /** Remembers a finished call (the oldest is forgotten past the capacity). */
  remember(requestId: string, call: RememberedCall): void {
    if (requestId === "") return;
    this.calls.set(requestId, call);
  }

  recall(requestId: string): RememberedCall | undefined {
    return this.calls.get(requestId);
  }

  /** Counts one piece of feedback for a remembered call. */
  add(call: RememberedCall, feedback: Feedback): void {
    let names = this.arms.get(call.endpoint);
    if (!names) this.arms.set(call.endpoint, (names = new Map()));
    const name = names.has(feedback.name) || names.size < maxNamesPerEndpoint ? feedback.name : otherFeedback;
    let byArm = names.get(name);
    if (!byArm) names.set(name, (byArm = new Map()));
    const key = `${call.target}\u0000${call.modelVersion}`;
    let arm = byArm.get(key);
    if (!arm) byArm.set(key, (arm = { count: 0, scored: 0, scoreSum: 0, labels: new Map() }));
    arm.count++;
    if (feedback.score !== undefined) {
      arm.scored++;
      arm.scoreSum += feedback.score;
    }
    if (feedback.label !== undefined) {
      const seenKey = `${call.endpoint}\u0000${name}`;
      let seen = this.labelsSeen.get(seenKey);
      if (!seen) this.labelsSeen.set(seenKey, (seen = new Set()));
      let label = feedback.label;
      if (!seen.has(label)) {
        if (seen.size < maxLabelsPerName) seen.add(label);
        else label = otherFeedback;
      }
      arm.labels.set(label, (arm.labels.get(label) ?? 0) + 1);
    }
  }
}
