// Compiles WGSL files with Tint (Dawn's WGSL compiler, the one Chrome uses) through dawn.node's
// null backend, which needs no GPU:
//
//   node tint_check.mjs [--combos] [-D name=v1,v2,...]... FILE.wgsl...
//
// Each file: createShaderModule and its compilation messages (parse, resolution, uniformity,
// constant evaluation) as FILE:LINE:COL, then one compute pipeline per @compute entry point
// (layout 'auto') inside error scopes, which catches what shows only with the overrides
// substituted (workgroup sizes and storage against the default limits). `-D name=v1,v2` tries
// each value of an override the file declares; `--combos` also tries every true/false
// combination of its bool overrides. Exit 1 on any error, 2 when no adapter is found.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);

const files = [];
const defined = new Map();
let combos = false;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--combos') combos = true;
  else if (args[i] === '-D') {
    const [name, values] = args[++i].split('=');
    defined.set(name, values.split(',').map(Number));
  } else files.push(args[i]);
}
if (files.length === 0) {
  console.error('usage: node tint_check.mjs [--combos] [-D name=v1,v2] FILE.wgsl...');
  process.exit(2);
}

const gpu = create(['backend=null']);
const adapter = await gpu.requestAdapter();
if (!adapter) {
  console.error("tint_check: no adapter on Dawn's null backend");
  process.exit(2);
}
// Default limits and no optional features (what every WebGPU browser guarantees) but subgroups,
// for the files that need them: *_subgroup.wgsl, which wgtrain opens only on devices with
// subgroups. They omit `enable subgroups;` (wgpu's front end refuses it) and Tint requires it,
// so it is added here, on their first line (line numbers stay as written).
const needsSubgroups = (file) => file.endsWith('_subgroup.wgsl');
if (files.some(needsSubgroups) && !adapter.features.has('subgroups')) {
  console.error("tint_check: Dawn's null adapter lacks the subgroups feature");
  process.exit(2);
}
const device = await adapter.requestDevice({ requiredFeatures: files.some(needsSubgroups) ? ['subgroups'] : [] });
let errors = 0;
let pipelines = 0;
const oneLine = (s) => String(s).replace(/\s*\n\s*/g, ' | ').trim();
// Comments blanked (newlines kept), so the scans below see code only and lines still count.
const code_only = (src) =>
  src.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' ')).replace(/\/\/[^\n]*/g, (m) => ' '.repeat(m.length));
const product = (lists) => lists.reduce((acc, [k, vs]) => acc.flatMap((c) => vs.map((v) => ({ ...c, [k]: v }))), [{}]);

// A file whose first line says it is "appended to NAME.wgsl" is compiled after that file (in
// the same folder), as the engine builds its module; messages name the file their line is in,
// and only its own entry points are built.
const baseOf = (text) => /^[^\n]*\bappended to (\S+\.wgsl)/.exec(text)?.[1];
const lineCount = (text) => text.split('\n').length - 1;

for (const file of files) {
  const own = readFileSync(file, 'utf8');
  const base = baseOf(own) ? join(dirname(file), baseOf(own)) : undefined;
  const baseText = base ? readFileSync(base, 'utf8') : '';
  const baseLines = lineCount(baseText);
  const where = (line) => (line > baseLines ? `${file}:${line - baseLines}` : `${base}:${line}`);
  const source = (needsSubgroups(file) ? 'enable subgroups; ' : '') + baseText + own;
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code: source, label: file });
  const info = await module.getCompilationInfo();
  await device.popErrorScope();
  let fileErrors = 0;
  for (const m of info.messages) {
    console.log(`${where(m.lineNum)}:${m.linePos}: ${m.type}: ${oneLine(m.message)}`);
    if (m.type === 'error') fileErrors++;
  }
  errors += fileErrors;
  if (fileErrors) continue;

  const code = code_only(source);
  const choices = [];
  for (const m of code.matchAll(/override\s+([A-Za-z_]\w*)\s*(?::\s*([A-Za-z_]\w*))?/g)) {
    if (defined.has(m[1])) choices.push([m[1], defined.get(m[1])]);
    else if (combos && m[2] === 'bool') choices.push([m[1], [0, 1]]);
  }
  const ownCode = code_only(own);
  for (const m of ownCode.matchAll(/@compute\b[\s\S]*?\bfn\s+([A-Za-z_]\w*)/g)) {
    const entryPoint = m[1];
    const line = ownCode.slice(0, m.index + m[0].length).split('\n').length;
    for (const constants of product(choices)) {
      for (const scope of ['validation', 'internal', 'out-of-memory']) device.pushErrorScope(scope);
      let thrown;
      try {
        device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint, constants } });
      } catch (e) {
        thrown = e;
      }
      pipelines++;
      const found = [thrown, await device.popErrorScope(), await device.popErrorScope(), await device.popErrorScope()];
      const tag = Object.entries(constants).map(([k, v]) => ` ${k}=${v}`).join('');
      for (const e of found.filter(Boolean)) {
        console.log(`${file}:${line}:1: error: pipeline '${entryPoint}'${tag}: ${oneLine(e.message)}`);
        errors++;
      }
    }
  }
}

console.log(`tint_check: ${files.length} files, ${pipelines} pipelines, ${errors} errors (Tint on Dawn's null backend)`);
device.destroy();
// dawn.node keeps the event loop alive while the device lives.
process.exit(errors ? 1 : 0);
