/** Dialogs: pick a template, export a handler (output directory, base image), show a result. */
import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { Widget } from '@lumino/widgets';

import { IReply } from './connection';
import { h } from './dom';
import { browserPath } from './exportlink';
import { TEMPLATES } from './templates';

export async function pickTemplate(defaultId: string): Promise<string | null> {
  const labels = TEMPLATES.map(t => t.label);
  const current = TEMPLATES.find(t => t.id === defaultId)?.label ?? labels[0];
  const result = await InputDialog.getItem({ title: 'Insert RunPod handler cell', items: labels, current });
  if (!result.button.accept || result.value === null) {
    return null;
  }
  return TEMPLATES.find(t => t.label === result.value)?.id ?? null;
}

export interface IExportChoice {
  handler: string;
  out: string;
  baseImage: string;
  hub: boolean;
}

class ExportBody extends Widget implements Dialog.IBodyWidget<IExportChoice> {
  constructor(handlers: string[], handler: string, out: (name: string) => string) {
    super();
    this.addClass('rp-export-dialog');
    this._handler = h('select', { name: 'handler' }, ...handlers.map(n => h('option', { value: n, selected: n === handler }, n))) as HTMLSelectElement;
    this._out = h('input', { name: 'out', type: 'text', value: out(handler) }) as HTMLInputElement;
    this._image = h('input', { name: 'base-image', type: 'text', placeholder: 'default: a pinned RunPod base image' }) as HTMLInputElement;
    this._hub = h('input', { name: 'hub', type: 'checkbox' }) as HTMLInputElement;
    this._handler.addEventListener('change', () => (this._out.value = out(this._handler.value)));
    this.node.append(
      h('label', {}, 'Handler', this._handler),
      h('label', {}, 'Output directory', this._out),
      h('label', {}, 'Base image', this._image),
      h('label', { class: 'rp-check', title: 'The RunPod Hub\u2019s listing and release tests (%rp_export --hub)' }, this._hub,
        'RunPod Hub files (.runpod/hub.json, tests.json)')
    );
  }

  getValue(): IExportChoice {
    return { handler: this._handler.value, out: this._out.value.trim(), baseImage: this._image.value.trim(),
      hub: this._hub.checked };
  }

  private _handler: HTMLSelectElement;
  private _out: HTMLInputElement;
  private _image: HTMLInputElement;
  private _hub: HTMLInputElement;
}

export async function askExport(
  handlers: string[],
  handler: string,
  out: (name: string) => string
): Promise<IExportChoice | null> {
  const result = await showDialog({
    title: 'Export a RunPod worker',
    body: new ExportBody(handlers, handler, out),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Export' })]
  });
  return result.button.accept && result.value && result.value.out ? result.value : null;
}

export async function showResult(title: string, ok: boolean, text: string): Promise<void> {
  await showExportResult(title, { ok, text }, () => undefined);
}

/**
 * The export's result: the kernel's text, and the worker folder as a link that opens it in
 * JupyterLab's file browser (`open` gets its path relative to the server root).
 */
export async function showExportResult(title: string, reply: IReply, open: (path: string) => void): Promise<void> {
  const body = new Widget();
  body.addClass('rp-result');
  body.node.append(h('pre', { 'data-ok': reply.ok ? 'true' : 'false' }, reply.text || (reply.ok ? 'done' : 'failed')));
  const dialog = new Dialog({ title: reply.ok ? title : `${title}: failed`, body, buttons: [Dialog.okButton()] });
  if (reply.ok && reply.directory) {
    const path = browserPath(reply.directory, PageConfig.getOption('serverRoot'));
    if (path === null) {
      body.node.append(h('p', { class: 'rp-export-folder' }, `${reply.directory} is outside the Jupyter server's root: the file browser cannot show it.`));
    } else {
      const link = h('a', { class: 'rp-export-folder', href: '#', 'data-path': path, title: reply.directory },
        `Open ${path || 'the root folder'} in the file browser`);
      link.addEventListener('click', event => {
        event.preventDefault();
        open(path);
        dialog.resolve(0);
      });
      body.node.append(h('p', {}, link));
    }
  }
  await dialog.launch();
}
