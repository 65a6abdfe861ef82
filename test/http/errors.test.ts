// Errors map to statuses in one place: a table of every typed error and its status and headers.

import { describe, expect, it } from 'vitest';
import {
  BaseChangedError,
  EditValidationError,
  type ErrorCode,
  IsoFormatError,
  IsoproxyError,
  NotFoundError,
  RangeNotSatisfiableError,
  RemasterError,
  UpstreamError,
} from '../../src/errors.js';
import { BadRequestError, errorBody, errorHeaders, errorStatus, UnauthorizedError } from '../../src/http/errors.js';
import { NodeExpiredError } from '../../src/registry/errors.js';

describe('errorStatus', () => {
  it.each([
    [new NotFoundError('x'), 404],
    [new NodeExpiredError('n', '2020-01-01T00:00:00.000Z'), 410],
    [new RangeNotSatisfiableError(10), 416],
    [new EditValidationError('ip', 'bad'), 400],
    [new BadRequestError('INVALID_BODY', 'bad'), 400],
    [new UnauthorizedError(), 401],
    [new BaseChangedError('http://u/a.iso', 'etag changed'), 503],
    [new UpstreamError('UPSTREAM_STATUS', 'http://u/a.iso', 'status 500', 500), 502],
    [new UpstreamError('UPSTREAM_TIMEOUT', 'http://u/a.iso', 'no answer'), 504],
    [new IsoFormatError('directory record', 34816, 'too short'), 502],
    [new RemasterError('NO_KERNEL_LINES', 'no kernel lines'), 422],
    // A code the map does not know (typed codes make this a cast).
    [new IsoproxyError('SOMETHING' as ErrorCode, 'else'), 500],
    [new Error('boom'), 500],
    ['a string', 500],
  ])('%s -> %i', (err, status) => {
    expect(errorStatus(err)).toBe(status);
  });

  it('adds Retry-After, Content-Range and WWW-Authenticate where the status needs them', () => {
    expect(errorHeaders(new BaseChangedError('http://u', 'x'))).toEqual({ 'Retry-After': '5' });
    expect(errorHeaders(new RangeNotSatisfiableError(1234))).toEqual({ 'Content-Range': 'bytes */1234' });
    expect(errorHeaders(new UnauthorizedError())).toHaveProperty('WWW-Authenticate');
  });

  it('renders { error: { code, message } } and hides the text of unknown errors', () => {
    expect(errorBody(new NotFoundError('no node "x"'))).toEqual({ error: { code: 'NOT_FOUND', message: 'no node "x"' } });
    expect(errorBody(new Error('secret path /etc/x'))).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
  });
});
