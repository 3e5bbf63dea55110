// undici keeps each response's raw header Buffers (views on the socket's read buffer: a dozen
// Buffer objects and the chunk they point into) on its DispatchController for as long as the
// response is open. A streamed answer is open for minutes, and the upstream client reads the
// parsed headers only: this dispatcher interceptor lets the handler see the response's start as
// usual, then drops them (issue 11: memory per open stream, ~1.4 KB each).
import type { Dispatcher } from "undici";

export const dropRawHeaders: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (options, handler) => dispatch(options, new RawHeadersDropped(handler));

/** Passes every event on to `handler`; after a final response's start, the controller's raw headers go. */
class RawHeadersDropped implements Dispatcher.DispatchHandler {
  constructor(private readonly handler: Dispatcher.DispatchHandler) {}

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.handler.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(...args: Parameters<NonNullable<Dispatcher.DispatchHandler["onRequestUpgrade"]>>): void {
    this.handler.onRequestUpgrade?.(...args);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Parameters<NonNullable<Dispatcher.DispatchHandler["onResponseStart"]>>[2], statusMessage?: string): void {
    this.handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
    // Interim (1xx) responses come before the final one; the final one's are dropped once read.
    if (statusCode >= 200) controller.rawHeaders = null;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.handler.onResponseData?.(controller, chunk);
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: Parameters<NonNullable<Dispatcher.DispatchHandler["onResponseEnd"]>>[1]): void {
    this.handler.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    this.handler.onResponseError?.(controller, error);
  }
}
