// Credentials never reach a log line, a metric label, the status page or an error message a
// client sees. Base image URLs may carry them (`https://user:secret@host/x.iso`, or a
// `?token=`-style query that signed object-store URLs use), so every URL shown anywhere goes
// through `redactUrl` first.

/** Query parameters that carry secrets in the URLs of common object stores and CDNs. */
const SECRET_PARAMS =
  /^(x-amz-signature|x-amz-credential|x-amz-security-token|signature|sig|token|access_token|password|secret|key|apikey|api_key)$/i;

/** The URL with its user info replaced by `***` and secret query parameters blanked. Non-URLs pass through unchanged. */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  if (u.username !== '' || u.password !== '') {
    u.username = '***';
    u.password = '';
  }
  for (const name of [...u.searchParams.keys()]) if (SECRET_PARAMS.test(name)) u.searchParams.set(name, '***');
  return u.toString();
}

/** A node's edits for a log line: kernel parameters as they are, injected files by path, mode and size only (their contents may be keys). */
export function loggableEdits(edits: {
  readonly files?: ReadonlyArray<{ readonly path: string; readonly mode?: string; readonly content?: string; readonly contentBase64?: string }>;
}): Record<string, unknown> {
  if (!edits.files) return { ...edits };
  return {
    ...edits,
    files: edits.files.map((f) => ({
      path: f.path,
      ...(f.mode !== undefined ? { mode: f.mode } : {}),
      bytes: f.content !== undefined ? Buffer.byteLength(f.content) : Math.floor(((f.contentBase64 ?? '').length * 3) / 4),
    })),
  };
}
