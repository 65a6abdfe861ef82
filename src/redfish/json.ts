// Small readers for Redfish JSON documents (DSP0266 payloads): they never throw on a shape the
// BMC got wrong, they answer undefined, so the caller decides which step failed and says so.

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function obj(v: unknown): JsonObject | undefined {
  return isObject(v) ? v : undefined;
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function strList(v: unknown): string[] | undefined {
  if (!Array.isArray(v)) return undefined;
  return v.filter((x): x is string => typeof x === 'string');
}

/** `{"@odata.id": "/redfish/v1/..."}` → the path. */
export function odataId(v: unknown): string | undefined {
  return str(obj(v)?.['@odata.id']);
}

/** Member paths of a Redfish collection, capped so a hostile BMC cannot make us walk forever. */
export function members(body: JsonObject, cap = 256): string[] {
  const list = Array.isArray(body['Members']) ? body['Members'] : [];
  const out: string[] = [];
  for (const m of list.slice(0, cap)) {
    const id = odataId(m);
    if (id !== undefined) out.push(id);
  }
  return out;
}

/**
 * The human messages of a Redfish error body (`error.@Message.ExtendedInfo[].Message`, else
 * `error.message`), joined; undefined when the body is not a Redfish error.
 */
export function errorMessages(body: unknown): string | undefined {
  const err = obj(obj(body)?.['error']);
  if (!err) return undefined;
  const infos = Array.isArray(err['@Message.ExtendedInfo']) ? err['@Message.ExtendedInfo'] : [];
  const texts = infos
    .slice(0, 8)
    .map((i) => str(obj(i)?.['Message']))
    .filter((m): m is string => !!m);
  if (texts.length > 0) return texts.join('; ');
  return str(err['message']);
}

/** Every MessageId (the error's own and the ExtendedInfo ones) of a Redfish error body. */
export function errorMessageIds(body: unknown): string[] {
  const err = obj(obj(body)?.['error']);
  if (!err) return [];
  const ids: string[] = [];
  const own = str(err['code']);
  if (own) ids.push(own);
  const infos = Array.isArray(err['@Message.ExtendedInfo']) ? err['@Message.ExtendedInfo'] : [];
  for (const i of infos.slice(0, 8)) {
    const id = str(obj(i)?.['MessageId']);
    if (id) ids.push(id);
  }
  return ids;
}

/** The whole error text (messages, arguments, related properties) for keyword checks. */
export function errorText(body: unknown): string {
  const err = obj(obj(body)?.['error']);
  if (!err) return '';
  return JSON.stringify(err).slice(0, 16_384);
}
