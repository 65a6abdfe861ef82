// URLs as the status view shows them: without user:password and without the query, which on
// presigned object-store URLs (S3, GCS, Swift temp URLs) is the credential.

export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Not a URL we can parse: still drop anything that looks like userinfo or a query.
    return url.replace(/\/\/[^/@?#]*@/, '//').replace(/[?#].*$/, '');
  }
  u.username = '';
  u.password = '';
  const hadQuery = u.search !== '';
  u.search = '';
  u.hash = '';
  return hadQuery ? `${u.toString()}?…` : u.toString();
}
