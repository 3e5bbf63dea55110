// FeedbackService: a score and/or label for a call, counted for the endpoint, target and model
// version that answered it (src/observability/feedback.ts), stored beside the call's ledger row
// (src/store: feedback), and handed to the endpoint's canary guard. The call is found among the
// gateway's recent calls (in memory), else in the usage ledger by its request id. Only the key
// that made the call, or an admin, may post for it: request ids travel in logs and headers, they
// are no credential. GetFeedbackSummary (admin only) adds the stored feedback up per arm.
import type { ServiceImpl } from "@connectrpc/connect";
import { z } from "zod";
import { create } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { GetFeedbackSummaryResponseSchema, PostFeedbackResponseSchema, type FeedbackService } from "../../gen/modelgate/v1/feedback_pb";
import { invalidArgument, notFound, permissionDenied, resourceExhausted } from "../errors";
import { getCaller } from "../interceptors/call-info";
import type { FeedbackBook, RememberedCall } from "../observability/feedback";
import { MAX_FEEDBACK_SCORE } from "../store/feedback-shared";
import type { FeedbackWriter } from "../store/feedback-writer";
import type { FeedbackStore } from "../store/types";

const scoreRange = `must be a finite number from -${MAX_FEEDBACK_SCORE} to ${MAX_FEEDBACK_SCORE}`;
const token = z.string().regex(/^[a-z0-9_.-]{1,64}$/, "1-64 characters of a-z, 0-9, _, - and .");
const feedbackRequest = z
  .object({
    requestId: z.string().min(1, "the call's request id is required").max(128),
    name: token,
    score: z.number().min(-MAX_FEEDBACK_SCORE, scoreRange).max(MAX_FEEDBACK_SCORE, scoreRange).optional(),
    label: token.optional(),
  })
  .refine((r) => r.score !== undefined || r.label !== undefined, { message: "a score, a label or both are required", path: ["score"] });

const summaryRequest = z.object({
  endpoint: z.string().max(256, "at most 256 characters"),
  name: z.union([z.literal(""), token]),
});

/** Pieces of feedback kept per call (all names); more are RESOURCE_EXHAUSTED. */
export const MAX_FEEDBACK_PER_CALL = 100;

/** Arms a summary returns at most. */
export const MAX_FEEDBACK_ARMS = 1_000;

export interface FeedbackDeps {
  book: FeedbackBook;
  store: FeedbackStore;
  /** Writes the rows in batches (see src/store/feedback-writer.ts). */
  writer: FeedbackWriter;
  /** A scored piece of feedback, for the endpoint's canary guard (after it is stored). */
  onScore?: (call: RememberedCall, name: string, score: number) => void;
  now?: () => Date;
}

export function feedbackService(deps: FeedbackDeps): ServiceImpl<typeof FeedbackService> {
  const { book, store, writer } = deps;
  const now = deps.now ?? (() => new Date());
  return {
    async postFeedback(req, ctx) {
      const parsed = feedbackRequest.safeParse(req);
      if (!parsed.success) throw invalidArgument(issueText(parsed.error));
      const { requestId, name, score, label } = parsed.data;
      const call = book.recall(requestId) ?? (await store.findCall(requestId));
      if (!call) throw notFound(`no call with request id "${requestId}" (feedback is taken for the gateway's answered calls: recent ones, or those in the usage ledger)`);
      const principal = getCaller(ctx.values)?.principal;
      if (principal && principal.keyId !== call.keyId && !principal.roles.has("admin")) {
        throw permissionDenied("feedback on a call is taken from the key that made it, or an admin key");
      }
      // Bounded per call; and a call's canary judgement counts its first score of a name only
      // (posting the same thumbs-down again must not outweigh other callers' answers).
      const stored = await store.priorFeedback(requestId, name);
      const waiting = writer.pending(requestId, name);
      const prior = { total: stored.total + waiting.total, scoredSameName: stored.scoredSameName + waiting.scoredSameName };
      if (prior.total >= MAX_FEEDBACK_PER_CALL) {
        throw resourceExhausted(`call "${requestId}" already has ${MAX_FEEDBACK_PER_CALL} pieces of feedback (the most kept per call)`);
      }
      await writer.write({
        time: now(),
        requestId,
        ...call,
        postedBy: principal?.keyId ?? "",
        name,
        score: score ?? null,
        label: label ?? null,
      });
      book.add(call, { name, ...(score !== undefined && { score }), ...(label !== undefined && { label }) });
      if (score !== undefined && prior.scoredSameName === 0) deps.onScore?.(call, name, score);
      return create(PostFeedbackResponseSchema, { endpoint: call.endpoint, target: call.target, modelVersion: call.modelVersion });
    },

    async getFeedbackSummary(req, ctx) {
      const principal = getCaller(ctx.values)?.principal;
      if (principal && !principal.roles.has("admin")) throw permissionDenied('FeedbackService.GetFeedbackSummary needs role "admin"');
      const parsed = summaryRequest.safeParse(req);
      if (!parsed.success) throw invalidArgument(issueText(parsed.error));
      const start = req.startTime ? toDate(req.startTime, "start_time") : undefined;
      const end = req.endTime ? toDate(req.endTime, "end_time") : now();
      if (start && start.getTime() >= end.getTime()) {
        throw invalidArgument(`start_time (${start.toISOString()}) must be before end_time (${end.toISOString()}${req.endTime ? "" : ", now"})`);
      }
      const arms = await store.summary({
        ...(start && { start }),
        end,
        ...(parsed.data.endpoint && { endpoint: parsed.data.endpoint }),
        ...(parsed.data.name && { name: parsed.data.name }),
        limit: MAX_FEEDBACK_ARMS + 1,
      });
      if (arms.length > MAX_FEEDBACK_ARMS) {
        throw invalidArgument(`the summary has more than ${MAX_FEEDBACK_ARMS} arms (the limit): narrow the range or give an endpoint or a name`);
      }
      return create(GetFeedbackSummaryResponseSchema, {
        arms: arms.map((a) => ({
          endpoint: a.endpoint,
          target: a.target,
          modelVersion: a.modelVersion,
          name: a.name,
          count: BigInt(a.count),
          scored: BigInt(a.scored),
          ...(a.scored > 0 && Number.isFinite(a.scoreSum / a.scored) && { meanScore: a.scoreSum / a.scored }),
          labels: a.labels.map((l) => ({ label: l.label, count: BigInt(l.count) })),
        })),
      });
    },
  };
}

function issueText(error: z.ZodError): string {
  const issue = error.issues[0]!;
  return `${issue.path.map(String).map(snake).join(".") || "request"}: ${issue.message}`;
}

function snake(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

// Dates outside ±8.64e15 ms are invalid in JS: refuse them rather than query with NaN.
function toDate(ts: Timestamp, field: string): Date {
  const d = timestampDate(ts);
  if (Number.isNaN(d.getTime()) || ts.nanos < 0 || ts.nanos > 999_999_999) throw invalidArgument(`${field}: not a valid timestamp`);
  return d;
}
