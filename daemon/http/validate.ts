// JSON-schema validation for params, query and body, with errors that name the field at fault.
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { HttpError } from '../base/errors';

export type JsonSchema = Record<string, unknown>;

const ajvBody = new Ajv({ allErrors: true, strict: false });
// Params and query arrive as strings: coerce them to the declared types and fill defaults.
const ajvText = new Ajv({ allErrors: true, strict: false, coerceTypes: true, useDefaults: true });

export type Validator = (value: unknown) => void;

function fieldOf(where: string, e: ErrorObject): string {
  const p = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const extra = e.params as { missingProperty?: string; additionalProperty?: string };
  const leaf = extra.missingProperty ?? extra.additionalProperty;
  return [where, p, leaf].filter(Boolean).join('.');
}

function describe(e: ErrorObject): string {
  const extra = e.params as { additionalProperty?: string; allowedValues?: unknown[] };
  if (e.keyword === 'additionalProperties') return `unknown field '${extra.additionalProperty}'`;
  if (e.keyword === 'enum') return `must be one of ${JSON.stringify(extra.allowedValues)}`;
  // The field is already named by fieldOf(): "body.x is required", not "body.x must have required property 'x'".
  if (e.keyword === 'required') return 'is required';
  return e.message ?? 'is invalid';
}

/**
 * A validator compiled on first use: an idle daemon carries no generated code for routes
 * nobody calls (part of keeping idle RSS low), and startup does not pay for it either.
 */
export function compile(where: 'params' | 'query' | 'body', schema: JsonSchema): Validator {
  let fn: ValidateFunction | undefined;
  return (value: unknown) => {
    fn ??= (where === 'body' ? ajvBody : ajvText).compile(schema);
    if (fn(value)) return;
    const fields = (fn.errors ?? []).map((e) => ({ field: fieldOf(where, e), message: describe(e) }));
    const first = fields[0];
    // `where` is not part of the body; an envelope may answer body errors differently (422).
    throw Object.assign(new HttpError('bad_request', first ? `${first.field} ${first.message}` : `invalid ${where}`, { fields }), { where });
  };
}
