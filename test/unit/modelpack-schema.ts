// The ModelPack config schema (modelpack/model-spec schema/config-schema.json, draft-04 keywords), restated as data,
// and a small checker of the keywords it uses: type, properties, additionalProperties: false, required, enum,
// items, minItems, minLength, minimum, pattern, format date-time and $ref into $defs.
type Schema = Record<string, unknown>;

const str = { type: 'string' };
const strings = { type: 'array', items: { type: 'string' } };
const posInt = { type: 'integer', minimum: 1 };
const modality = { $ref: '#/$defs/Modality' };

export const MODELPACK_CONFIG_SCHEMA: Schema = {
  type: 'object',
  properties: { descriptor: { $ref: '#/$defs/ModelDescriptor' }, modelfs: { $ref: '#/$defs/ModelFS' }, config: { $ref: '#/$defs/ModelConfig' } },
  additionalProperties: false,
  required: ['descriptor', 'config', 'modelfs'],
  $defs: {
    ModelConfig: {
      type: 'object',
      properties: {
        architecture: str,
        format: str,
        paramSize: str,
        precision: str,
        quantization: str,
        transformerConfig: { $ref: '#/$defs/TransformerConfig' },
        capabilities: { $ref: '#/$defs/ModelCapabilities' },
      },
      additionalProperties: false,
    },
    TransformerConfig: {
      type: 'object',
      properties: {
        attentionType: { type: 'string', enum: ['mha', 'gqa', 'mla'] },
        mlpType: { type: 'string', enum: ['dense', 'moe'] },
        numLayers: posInt,
        numAttentionHeads: posInt,
        numKVHeads: posInt,
        hiddenSize: posInt,
        intermediateSize: posInt,
      },
      additionalProperties: false,
    },
    ModelDescriptor: {
      type: 'object',
      properties: {
        createdAt: { type: 'string', format: 'date-time' },
        authors: strings,
        family: str,
        name: { type: 'string', minLength: 1 },
        docURL: str,
        sourceURL: str,
        datasetsURL: strings,
        version: str,
        revision: str,
        vendor: str,
        licenses: strings,
        title: str,
        description: str,
      },
      additionalProperties: false,
    },
    ModelFS: {
      type: 'object',
      properties: { type: { type: 'string', enum: ['layers'] }, diffIds: { type: 'array', items: { type: 'string' }, minItems: 1 } },
      additionalProperties: false,
      required: ['type', 'diffIds'],
    },
    ModelCapabilities: {
      type: 'object',
      properties: {
        inputTypes: { type: 'array', items: modality },
        outputTypes: { type: 'array', items: modality },
        knowledgeCutoff: { type: 'string', format: 'date-time' },
        reasoning: { type: 'boolean' },
        toolUsage: { type: 'boolean' },
        reward: { type: 'boolean' },
        languages: { type: 'array', items: { type: 'string', pattern: '^[a-z]{2}$' } },
      },
      additionalProperties: false,
    },
    Modality: { type: 'string', enum: ['text', 'image', 'audio', 'video', 'embedding', 'other'] },
  },
};

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function typeOk(type: string, value: unknown): boolean {
  switch (type) {
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    default:
      throw new Error(`checkSchema: type ${type} not supported`);
  }
}

/** Violations of `schema` by `value`, as "path: what" lines; [] when it is valid. */
export function checkSchema(schema: Schema, value: unknown, root: Schema = schema, at = '$'): string[] {
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.replace('#/$defs/', '');
    const target = (root.$defs as Record<string, Schema>)[name];
    if (!target) throw new Error(`checkSchema: unknown $ref ${schema.$ref}`);
    return checkSchema(target, value, root, at);
  }
  const errors: string[] = [];
  if (typeof schema.type === 'string' && !typeOk(schema.type, value)) return [`${at}: not ${schema.type}`];
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) errors.push(`${at}: ${JSON.stringify(value)} not one of ${schema.enum.join(', ')}`);
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && value.length < schema.minLength) errors.push(`${at}: shorter than ${schema.minLength}`);
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern).test(value)) errors.push(`${at}: does not match ${schema.pattern}`);
    if (schema.format === 'date-time' && !RFC3339.test(value)) errors.push(`${at}: not an RFC 3339 date-time`);
  }
  if (typeof value === 'number' && typeof schema.minimum === 'number' && value < schema.minimum) errors.push(`${at}: below ${schema.minimum}`);
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) errors.push(`${at}: fewer than ${schema.minItems} items`);
    if (schema.items) value.forEach((v, i) => errors.push(...checkSchema(schema.items as Schema, v, root, `${at}[${i}]`)));
  }
  if (typeOk('object', value) && schema.type === 'object') {
    const obj = value as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const key of (schema.required ?? []) as string[]) if (!(key in obj)) errors.push(`${at}: missing ${key}`);
    for (const [key, v] of Object.entries(obj)) {
      if (props[key]) errors.push(...checkSchema(props[key], v, root, `${at}.${key}`));
      else if (schema.additionalProperties === false) errors.push(`${at}: unexpected property ${key}`);
    }
  }
  return errors;
}
