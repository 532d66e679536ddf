/**
 * proto3 `optional` fields for Debian's protoc (grpc_tools bundles libprotoc 3.5.1, which
 * predates them). A proto3 `optional T name = N;` is, on the wire and in the descriptor, a
 * field in a synthetic one-field oneof named `_name` with `proto3_optional = true`. We compile
 * the oneof spelling and then set `proto3_optional` (FieldDescriptorProto field 17) on those
 * fields, which gives the descriptor a current protoc writes for the `optional` spelling.
 *
 * @module
 */

/** `optional T name = N;` at the start of a line (proto3 explicit presence). */
const OPTIONAL_FIELD = /^(\s*)optional\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;/gm;

/** Rewrites proto3 `optional` fields of a `.proto` text into their synthetic-oneof form. */
export function oneofSpelling(text: string): string {
  return text.replace(OPTIONAL_FIELD, "$1oneof _$3 { $2 $3 = $4; }");
}

/** Whether a `.proto` text has proto3 `optional` fields. */
export function hasOptionalFields(text: string): boolean {
  return new RegExp(OPTIONAL_FIELD.source, "m").test(text);
}

/** One field of a protobuf message: number, wire type and its raw payload. */
interface RawField {
  no: number;
  wt: number;
  /** Varint/fixed: the value's bytes; LEN: the payload (without the length). */
  data: Uint8Array;
}

/** A descriptor could not be walked; carries the byte offset. */
export class DescriptorWalkError extends Error {
  override name = "DescriptorWalkError";
  constructor(message: string, readonly offset: number) {
    super(`${message} at byte ${offset}`);
  }
}

function readVarint(buf: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = pos; i < buf.length; i++) {
    value += (buf[i] & 0x7f) * scale;
    if (buf[i] < 0x80) return [value, i + 1];
    scale *= 128;
  }
  throw new DescriptorWalkError("truncated varint", pos);
}

function varint(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

function parse(buf: Uint8Array): RawField[] {
  const fields: RawField[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [tag, p] = readVarint(buf, pos);
    const no = Math.floor(tag / 8);
    const wt = tag % 8;
    let end: number;
    let start = p;
    if (wt === 0) end = readVarint(buf, p)[1];
    else if (wt === 1) end = p + 8;
    else if (wt === 5) end = p + 4;
    else if (wt === 2) {
      const [len, q] = readVarint(buf, p);
      start = q;
      end = q + len;
    } else throw new DescriptorWalkError(`unsupported wire type ${wt}`, pos);
    if (end > buf.length) throw new DescriptorWalkError("truncated field", pos);
    fields.push({ no, wt, data: buf.subarray(start, end) });
    pos = end;
  }
  return fields;
}

function serialize(fields: RawField[]): Uint8Array {
  const parts: number[] = [];
  for (const f of fields) {
    parts.push(...varint(f.no * 8 + f.wt));
    if (f.wt === 2) parts.push(...varint(f.data.length));
    for (const b of f.data) parts.push(b);
  }
  return new Uint8Array(parts);
}

const text = new TextDecoder();

/** Sets proto3_optional on fields that sit alone in a oneof named `_<field name>`. */
function patchMessage(message: Uint8Array): Uint8Array {
  const fields = parse(message);
  const oneofs = fields.filter((f) => f.no === 8).map((f) => {
    const name = parse(f.data).find((g) => g.no === 1);
    return name ? text.decode(name.data) : "";
  });
  const members = new Map<number, number>();
  const decoded = fields.map((f) => (f.no === 2 ? parse(f.data) : undefined));
  for (const d of decoded) {
    const idx = d?.find((g) => g.no === 9);
    if (idx) {
      const i = readVarint(idx.data, 0)[0];
      members.set(i, (members.get(i) ?? 0) + 1);
    }
  }
  return serialize(fields.map((f, i) => {
    if (f.no === 3) return { ...f, data: patchMessage(f.data) };
    const d = decoded[i];
    if (f.no !== 2 || !d) return f;
    const name = text.decode(d.find((g) => g.no === 1)?.data ?? new Uint8Array());
    const idx = d.find((g) => g.no === 9);
    if (!idx || d.some((g) => g.no === 17)) return f;
    const i1 = readVarint(idx.data, 0)[0];
    if (oneofs[i1] !== `_${name}` || members.get(i1) !== 1) return f;
    return { ...f, data: serialize([...d, { no: 17, wt: 0, data: new Uint8Array([1]) }]) };
  }));
}

/**
 * Marks the synthetic-oneof fields of the named files in a serialized FileDescriptorSet as
 * proto3 optional. Other files are copied byte for byte.
 */
export function markProto3Optional(set: Uint8Array, files: ReadonlySet<string>): Uint8Array {
  return serialize(
    parse(set).map((f) => {
      if (f.no !== 1) return f;
      const file = parse(f.data);
      const name = text.decode(file.find((g) => g.no === 1)?.data ?? new Uint8Array());
      if (!files.has(name)) return f;
      return {
        ...f,
        data: serialize(file.map((g) => (g.no === 4 ? { ...g, data: patchMessage(g.data) } : g))),
      };
    }),
  );
}
