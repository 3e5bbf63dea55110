// A stream whose chunks pass through `map` as they are read (a provider's chunks named with their
// target, a service's chunks recorded for the ledger). A plain iterator with its methods on the
// prototype rather than an async generator: nothing of its own stays suspended while the stream
// is open, one object per stream (issue 11: memory per open stream).

export abstract class MappedStream<T> implements AsyncIterable<T>, AsyncIterator<T> {
  private it: AsyncIterator<T> | undefined;
  private readonly step = (r: IteratorResult<T>): IteratorResult<T> => {
    if (r.done === true) return r;
    const value = this.map(r.value);
    return value === r.value ? r : { done: false, value };
  };

  constructor(private readonly chunks: AsyncIterable<T>) {}

  /** What a chunk becomes on its way through. */
  protected abstract map(chunk: T): T;

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    return this.iterator().next().then(this.step);
  }

  return(value?: unknown): Promise<IteratorResult<T>> {
    const it = this.iterator();
    return it.return ? it.return(value) : Promise.resolve({ done: true, value: value as T });
  }

  // As the generator this replaced: a throw closes the stream underneath, then fails.
  throw(err?: unknown): Promise<IteratorResult<T>> {
    const it = this.iterator();
    return (it.return ? it.return() : Promise.resolve()).then((): never => {
      throw err;
    });
  }

  private iterator(): AsyncIterator<T> {
    return (this.it ??= this.chunks[Symbol.asyncIterator]());
  }
}
