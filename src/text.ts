// Text as UTF-8 carries it.

/**
 * `s` with each lone surrogate replaced by U+FFFD, what encoding it as UTF-8 does (ES2024
 * String.prototype.toWellFormed; the check first, so well-formed text is not copied). A JSON
 * answer keeps a lone surrogate as an escape such as `\ud83d`, which strict decoders (protobuf-es's
 * fromJson, so connect-es clients) refuse as invalid UTF-8.
 */
export function wellFormed(s: string): string {
  const str = s as string & { isWellFormed(): boolean; toWellFormed(): string };
  return str.isWellFormed() ? s : str.toWellFormed();
}
