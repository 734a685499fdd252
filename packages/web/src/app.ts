/** The inspector page: open an image (file or URL), show what `diskit info` shows, browse and download. */
import { humanSize, type Structure } from '@diskit/core';
import { WorkerClient } from './client.js';
import { saver } from './save.js';
import type { Entry, Source, Summary } from './protocol.js';
import { el, hexDump, table } from './view.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const worker = new WorkerClient(new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }));
let summary: Summary | undefined;
let volume = -1;
let cwd = '/';

function status(text: string): void {
  $('status').textContent = text;
}
function showError(e: unknown): void {
  const box = $('error');
  box.textContent = e instanceof Error ? e.message : String(e);
  box.hidden = false;
  status('');
}
function progress(done?: number, total?: number): void {
  const bar = $<HTMLProgressElement>('progress');
  bar.hidden = done === undefined;
  if (done !== undefined && total) {
    bar.max = total;
    bar.value = done;
  }
}

/** Run a long job with the page responsive: errors shown as one line, the bar hidden afterwards. */
async function job(label: string, fn: () => Promise<void>): Promise<void> {
  $('error').hidden = true;
  status(label);
  try {
    await fn();
  } catch (e) {
    showError(e);
  } finally {
    progress();
  }
}

async function openSource(source: Source, name: string): Promise<void> {
  await job(`Opening ${name}…`, async () => {
    summary = await worker.call<Summary>({ op: 'open', source });
    render(summary);
    status(`${name}: ${summary.format} (${summary.variant})`);
  });
}

function render(s: Summary): void {
  $('main').hidden = false;
  table($('summary'), [], [
    ['name', s.name], ['format', s.format], ['variant', s.variant],
    ['virtual size', humanSize(s.virtualSize, { group: true })], ['file size', humanSize(s.fileSize, { group: true })], ['partition table', s.partitionScheme],
    ...Object.entries(s.imageInfo ?? {}).filter(([, v]) => typeof v !== 'object').map(([k, v]) => [k, String(v)] as [string, string]),
  ]);
  table($('partitions'), ['#', 'start', 'size', 'type', 'name'], s.partitions.map((p) => [String(p.index), String(p.start), humanSize(p.size, { group: true }), p.type, p.name ?? '']));
  table($('volumes'), ['where', 'filesystem', 'label', 'state'], s.volumes.map((v) => [v.where, v.fs, String(v.info?.label ?? v.info?.volumeId ?? v.info?.logicalVolume ?? ''), v.error ?? 'readable']));
  const sel = $<HTMLSelectElement>('volume');
  sel.replaceChildren(...s.volumes.filter((v) => !v.error).map((v) => el('option', { value: String(v.id) }, `${v.fs} — ${v.where}`)));
  $('files-section').hidden = sel.options.length === 0;
  const structures = $('structures');
  structures.replaceChildren(...s.inspection.structures.map(structureNode));
  if (sel.options.length) void browse(Number(sel.value), '/');
}

function structureNode(st: Structure): HTMLElement {
  const fields = el('div', { className: 'fields' }, Object.entries(st.fields).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n'));
  const link = el('button', { className: 'link' }, `${st.name} @ ${st.offset} (${st.size} bytes)`);
  link.onclick = (ev) => {
    ev.preventDefault();
    void job(`Reading ${st.name}…`, async () => {
      const bytes = await worker.call<Uint8Array>({ op: 'hex', offset: st.offset, length: Math.min(st.size || 512, 4096) });
      $('hex').textContent = `${st.name} at offset ${st.offset}\n\n` + hexDump(bytes, st.offset);
      status('');
    });
  };
  return el('details', {}, el('summary', {}, link), fields, ...(st.children ?? []).map(structureNode));
}

async function browse(vol: number, path: string): Promise<void> {
  await job(`Listing ${path}…`, async () => {
    const entries = await worker.call<Entry[]>({ op: 'readdir', volume: vol, path });
    volume = vol;
    cwd = path;
    crumbs(path);
    fileTable(entries);
    status(`${entries.length} entries in ${path}`);
  });
}

function crumbs(path: string): void {
  const parts = path.split('/').filter(Boolean);
  const buttons = [el('button', { className: 'link' }, '/')];
  buttons[0]!.onclick = () => void browse(volume, '/');
  parts.forEach((p, i) => {
    const b = el('button', { className: 'link' }, p + '/');
    b.onclick = () => void browse(volume, '/' + parts.slice(0, i + 1).join('/'));
    buttons.push(b);
  });
  $('crumbs').replaceChildren(...buttons);
}

function fileTable(entries: Entry[]): void {
  const t = $('files');
  t.replaceChildren(el('tr', {}, ...['name', 'type', 'size', 'modified', ''].map((h) => el('th', {}, h))));
  for (const e of entries) {
    const name = el('button', { className: 'link' }, e.type === 'directory' ? e.name + '/' : e.name);
    name.dataset.testid = `entry:${e.path}`;
    if (e.type === 'directory') name.onclick = () => void browse(volume, e.path);
    else name.onclick = () => void download(e);
    const action = e.type === 'file' ? el('button', {}, 'download') : el('span', {}, e.target ? `→ ${e.target}` : '');
    if (e.type === 'file') action.onclick = () => void download(e);
    t.append(el('tr', {}, el('td', {}, name), el('td', {}, e.type), el('td', { className: 'num' }, e.type === 'directory' ? '' : humanSize(e.size, { group: true })), el('td', {}, e.mtime?.replace('T', ' ').slice(0, 19) ?? ''), el('td', {}, action)));
  }
}

/** Stream a worker job into a file the user keeps. */
async function deliver(name: string, start: (delivery: 'positional' | 'sequential', onChunk: (c: Uint8Array, at: number) => Promise<void>) => Promise<number>): Promise<void> {
  await job(`Saving ${name}…`, async () => {
    const out = await saver(name);
    try {
      const size = await start(out.delivery, (c, at) => out.write(c, at));
      await out.finish(size);
      status(`Saved ${name} (${humanSize(size, { group: true })})`);
    } catch (e) {
      await out.abort();
      throw e;
    }
  });
}

const onProgress = (done: number, total: number) => progress(done, total);

function download(e: Entry): Promise<void> {
  return deliver(e.name, (delivery, onChunk) => worker.call<number>({ op: 'file', volume, path: e.path, delivery }, { onChunk, onProgress }));
}

$('zip').onclick = () => {
  const name = (cwd === '/' ? 'root' : cwd.split('/').pop()!) + '.zip';
  void deliver(name, (_delivery, onChunk) => worker.call<number>({ op: 'zip', volume, path: cwd }, { onChunk, onProgress }));
};

$('convert').onclick = () => {
  const format = $<HTMLSelectElement>('convert-format').value;
  const base = (summary?.name.split('/').pop() ?? 'disk').replace(/\.[^.]*$/, '');
  void deliver(`${base}.${format === 'raw' ? 'img' : format}`, (delivery, onChunk) => worker.call<number>({ op: 'convert', format, delivery }, { onChunk, onProgress }));
};

$('search-form').onsubmit = (ev) => {
  ev.preventDefault();
  const query = $<HTMLInputElement>('search').value.trim();
  if (!query) return void browse(volume, cwd);
  void job(`Searching for ${query}…`, async () => {
    const r = await worker.call<{ hits: Entry[]; skipped: string[] }>({ op: 'search', volume, query, limit: 500 });
    fileTable(r.hits);
    status(`${r.hits.length} matches${r.skipped.length ? `; damaged directories skipped: ${r.skipped.join('; ')}` : ''}`);
  });
};

$<HTMLSelectElement>('volume').onchange = (ev) => void browse(Number((ev.target as HTMLSelectElement).value), '/');
$<HTMLInputElement>('file').onchange = (ev) => {
  const f = (ev.target as HTMLInputElement).files?.[0];
  if (f) void openSource({ file: f, name: f.name }, f.name);
};
$('url-form').onsubmit = (ev) => {
  ev.preventDefault();
  const url = $<HTMLInputElement>('url').value.trim();
  if (url) void openSource({ url }, url);
};
const drop = $('drop');
drop.ondragover = (ev) => {
  ev.preventDefault();
  drop.classList.add('over');
};
drop.ondragleave = () => drop.classList.remove('over');
drop.ondrop = (ev) => {
  ev.preventDefault();
  drop.classList.remove('over');
  const f = ev.dataTransfer?.files[0];
  if (f) void openSource({ file: f, name: f.name }, f.name);
};
// ?url=… opens a remote image straight away (links to the page can name an image).
const initial = new URLSearchParams(location.search).get('url');
if (initial) {
  $<HTMLInputElement>('url').value = initial;
  void openSource({ url: initial }, initial);
}
