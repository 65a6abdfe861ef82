// What InsertMedia and EjectMedia do to a slot (DMTF VirtualMedia v1.x), whether they arrive as
// actions or as a PATCH: the parameter checks real BMCs make (Supermicro refusing Inserted and
// WriteProtected, services demanding TransferProtocolType, the URL scheme matching it), then the
// change itself, which starts or aborts the slot's image read.

import { done, faultOf, refuse, type C, type SimContext } from './context.js';
import type { SimSystem, SimVirtualMedia } from './state.js';
import { str, type JsonObject } from '../json.js';

function clear(m: SimVirtualMedia): void {
  Object.assign(m, { image: null, inserted: false, transferProtocolType: null, transferMethod: null, ejectPendingGets: 0 });
  m.etag++;
}

/** Slow eject: the media shows as inserted for a few more GETs. */
export function settle(m: SimVirtualMedia): void {
  if (m.ejectPendingGets > 0 && --m.ejectPendingGets === 0) clear(m);
}

/** Why an insert's parameters are refused, as the modelled BMC words it; undefined when accepted. */
function insertRefusal(c: C, ctx: SimContext, m: SimVirtualMedia, body: JsonObject, image: string, tpt: string | undefined): Response | undefined {
  const { quirks } = ctx;
  if (quirks.insertVia === 'action' && quirks.rejectInsertedWriteProtected && ('Inserted' in body || 'WriteProtected' in body)) {
    const prop = 'Inserted' in body ? 'Inserted' : 'WriteProtected';
    return refuse(
      c,
      400,
      'Base.1.8.ActionParameterNotSupported',
      `The parameter ${prop} for the action InsertMedia is not supported on the target resource.`,
      [`#/${prop}`],
    );
  }
  if (quirks.requireTransferProtocolType && !tpt) {
    // Exactly what sushy looks for: code Base.1.5.ActionParameterMissing and RelatedProperties.
    return refuse(
      c,
      400,
      'Base.1.5.ActionParameterMissing',
      'The action InsertMedia requires the parameter TransferProtocolType to be present in the request body.',
      ['#/TransferProtocolType'],
    );
  }
  if (tpt !== undefined && !['HTTP', 'HTTPS'].includes(tpt)) {
    return refuse(c, 400, 'Base.1.8.ActionParameterValueNotInList', `The value ${JSON.stringify(tpt)} for TransferProtocolType is not allowed.`, [
      '#/TransferProtocolType',
    ]);
  }
  let url: URL;
  try {
    url = new URL(image);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
  } catch {
    return refuse(c, 400, 'Base.1.8.ActionParameterValueFormatError', `The value ${JSON.stringify(image)} for Image is not an http(s) URL.`, [
      '#/Image',
    ]);
  }
  if (tpt !== undefined && tpt.toLowerCase() !== url.protocol.replace(':', '')) {
    return refuse(c, 400, 'Base.1.8.ActionParameterValueConflict', `TransferProtocolType ${tpt} does not match the Image URL.`, [
      '#/TransferProtocolType',
    ]);
  }
  if (m.inserted && m.ejectPendingGets === 0) {
    return refuse(c, 400, 'Base.1.8.PropertyValueConflict', 'Media is already inserted; eject it first.', ['#/Image']);
  }
  return undefined;
}

export function insertMedia(c: C, ctx: SimContext, s: SimSystem, m: SimVirtualMedia, body: JsonObject): Response {
  const image = str(body['Image']);
  if (!image) return refuse(c, 400, 'Base.1.8.ActionParameterMissing', 'The action InsertMedia requires the parameter Image.', ['#/Image']);
  const tpt = str(body['TransferProtocolType']);
  const refusal = insertRefusal(c, ctx, m, body, image, tpt);
  if (refusal) return refusal;
  const recorded = { ...body };
  delete recorded['Password'];
  m.lastInsertBody = recorded;
  if (faultOf(c) === 'ignore') return done(c, ctx);
  if (faultOf(c) === 'task-fail') return done(c, ctx, 'Mounting the image failed.');
  ctx.fetches.abort(m);
  Object.assign(m, {
    image,
    inserted: body['Inserted'] !== false,
    writeProtected: body['WriteProtected'] !== false,
    transferProtocolType: tpt ?? null,
    transferMethod: str(body['TransferMethod']) ?? null,
    ejectPendingGets: 0,
  });
  m.inserts++;
  m.etag++;
  ctx.log.info({ system: s.id, media: m.id, image }, 'media inserted');
  if (m.inserted) ctx.fetches.start(s, m, image);
  return done(c, ctx);
}

export function ejectMedia(c: C, ctx: SimContext, s: SimSystem, m: SimVirtualMedia): Response {
  if (!m.inserted && ctx.quirks.ejectEmptyFails) {
    return refuse(c, 400, 'Base.1.8.ActionNotSupported', 'No media is inserted; there is nothing to eject.');
  }
  if (faultOf(c) === 'ignore') return done(c, ctx);
  if (faultOf(c) === 'task-fail') return done(c, ctx, 'Ejecting the media failed.');
  ctx.fetches.abort(m);
  if (m.inserted) {
    m.ejects++;
    ctx.log.info({ system: s.id, media: m.id, image: m.image }, 'media ejected');
  }
  if (m.inserted && ctx.quirks.slowEjectGets > 0) m.ejectPendingGets = ctx.quirks.slowEjectGets;
  else clear(m);
  return done(c, ctx);
}
