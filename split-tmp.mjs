import { build } from 'esbuild';
const r = await build({ entryPoints: ['src/cli/main.ts'], bundle: true, splitting: true, format: 'esm', platform: 'node', outdir: '/tmp/split-out', write: false, metafile: true, packages: 'external', logLevel: 'error' });
const outputs = r.metafile.outputs;
function closure(start){ const seen=new Set(), pk=new Set(); const v=c=>{ if(seen.has(c))return; seen.add(c); for(const i of outputs[c]?.imports??[]){ if(i.kind!=='import-statement')continue; if(i.external)pk.add(i.path); else v(i.path);} }; v(start); return {files:[...seen].flatMap(c=>Object.keys(outputs[c].inputs)), pk:[...pk].filter(p=>!p.startsWith('node:'))}; }
for (const e of process.argv.slice(2)) { const k=Object.entries(outputs).find(([,o])=>o.entryPoint===e)[0]; const c=closure(k); console.log(e, c.files.length, c.pk.join(' ')); console.log('   ', c.files.join(' ')); }
