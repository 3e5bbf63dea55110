// FeedbackService: a score and/or label for a recent call, counted for the endpoint, target and
// model version that answered it (src/observability/feedback.ts). Only the key that made the call,
// or an admin, may post for it: request ids travel in logs and headers, they are no credential.
import type { ServiceImpl } from "@connectrpc/connect";
import { z } from "zod";
import { create } from "@bufbuild/protobuf";
import { PostFeedbackResponseSchema, type FeedbackService } from "../../gen/modelgate/v1/feedback_pb";
import { invalidArgument, notFound, permissionDenied } from "../errors";
import { getCaller } from "../interceptors/call-info";
import type { FeedbackBook } from "../observability/feedback";

const token = z.string().regex(/^[a-z0-9_.-]{1,64}$/, "1-64 characters of a-z, 0-9, _, - and .");
const feedbackRequest = z
  .object({
    requestId: z.string().min(1, "the call's request id is required").max(128),
    name: token,
    score: z.number().finite().optional(),
    label: token.optional(),
  })
  .refine((r) => r.score !== undefined || r.label !== undefined, { message: "a score, a label or both are required", path: ["score"] });

export function feedbackService(book: FeedbackBook): ServiceImpl<typeof FeedbackService> {
  return {
    postFeedback(req, ctx) {
      const parsed = feedbackRequest.safeParse(req);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw invalidArgument(`${issue.path.map(String).map(snake).join(".") || "request"}: ${issue.message}`);
      }
      const { requestId, name, score, label } = parsed.data;
      const call = book.recall(requestId);
      if (!call) throw notFound(`no recent call with request id "${requestId}" (feedback is taken for the gateway's recent calls)`);
      const principal = getCaller(ctx.values)?.principal;
      if (principal && principal.keyId !== call.keyId && !principal.roles.has("admin")) {
        throw permissionDenied("feedback on a call is taken from the key that made it, or an admin key");
      }
      book.add(call, { name, ...(score !== undefined && { score }), ...(label !== undefined && { label }) });
      return create(PostFeedbackResponseSchema, { endpoint: call.endpoint, target: call.target, modelVersion: call.modelVersion });
    },
  };
}

function snake(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
