/** The RunPod sidebar: the active notebook kernel's handlers and jobs, with their actions. */
import { Widget } from '@lumino/widgets';

import { RunPodModel } from './connection';
import { button, h } from './dom';
import {
  IHandlerInfo,
  IJobRow,
  ILabRow,
  ISnapshot,
  concurrencyLabel,
  exportDisabledReason,
  jobRows,
  keepDisabledReason,
  kindLabel,
  labRows,
  serveDisabledReason,
  statusText
} from './model';

/** The last command's state, shown under the sidebar's header: running, waiting (with Retry), done. */
export interface ICommandStatus {
  label: string;
  state: 'running' | 'started' | 'pending' | 'ok' | 'failed';
  text?: string;
  retry?: () => void;
}

export interface ISidebarActions {
  run(handler: string): void;
  cancel(job: string): void;
  keep(job: string, handler: string): void;
  view(job: string): void;
  exportHandler(handler: string): void;
  startServer(): void;
  stopServer(): void;
  insertHandler(): void;
  port(): number;
}

export class RunPodSidebar extends Widget {
  constructor(
    private readonly model: RunPodModel,
    private readonly actions: ISidebarActions
  ) {
    super();
    this.id = 'rp-jupyter-sidebar';
    this.addClass('rp-sidebar');
    this.title.caption = 'RunPod: handlers and jobs';
    model.changed.connect(this.render, this);
    this.render();
  }

  dispose(): void {
    window.clearInterval(this._timer);
    super.dispose();
  }

  protected onAfterShow(): void {
    this.render();
  }

  /** Show what the last command is doing (or did); with a Retry button when it can be retried. */
  showCommand(status: ICommandStatus): void {
    if (status.state === 'running') {
      this._commands++; // a new command (a retry too): tests and screen readers can tell it from the last
    }
    this._command = status;
    this.render();
  }

  render(): void {
    if (this.isDisposed) {
      return;
    }
    const snapshot = this.model.snapshot;
    const link = this.model.current;
    const children: (HTMLElement | null)[] = [
      h('header', { class: 'rp-sidebar-header' },
        h('h2', {}, 'RunPod'),
        h('div', { class: 'rp-sidebar-status' }, statusText(this.model.connection, snapshot))),
      this._commandStatus(),
      snapshot ? this._server(snapshot) : this._notLoaded()
    ];
    if (snapshot && link) {
      children.push(this._handlers(snapshot.handlers, snapshot));
      children.push(this._jobs(jobRows(snapshot, Date.now(), link.receivedAt), labRows(snapshot),
        keepDisabledReason(snapshot)));
      children.push(this._abandoned(snapshot.abandoned ?? []));
    }
    this.node.replaceChildren(...children.filter((c): c is HTMLElement => c !== null));
    this._tick(snapshot !== null && snapshot.jobs.some(j => j.status === 'IN_QUEUE' || j.status === 'IN_PROGRESS'));
  }

  private _commandStatus(): HTMLElement | null {
    const c = this._command;
    if (!c) {
      return null;
    }
    const words = {
      running: 'sent…', started: 'running in the kernel…', pending: 'waiting', ok: 'done', failed: 'failed'
    }[c.state];
    return h('div', { class: 'rp-command', 'data-state': c.state, 'data-seq': String(this._commands), role: 'status' },
      h('span', { class: 'rp-command-text' }, `${c.label}: ${c.text ? c.text.split('\n')[0] : words}`),
      c.retry && (c.state === 'pending' || c.state === 'failed')
        ? button('Retry', 'Send the command again (it never runs twice)', c.retry, { action: 'retry' })
        : null);
  }

  private _notLoaded(): HTMLElement {
    const text =
      this.model.connection === 'no-kernel'
        ? 'Open a notebook to see its RunPod handlers and jobs.'
        : 'rp_jupyter is not loaded in this notebook\u2019s kernel. Run %load_ext rp_jupyter, or insert a handler cell:';
    return h('section', { class: 'rp-empty' }, h('p', {}, text),
      this.model.connection === 'no-kernel' ? null
        : button('Insert handler cell', 'Insert a %%rp_handler cell from a template', () => this.actions.insertHandler(),
          { action: 'insert' }));
  }

  private _server(snapshot: ISnapshot): HTMLElement {
    const reason = serveDisabledReason(snapshot);
    const body = snapshot.server
      ? [h('span', { class: 'rp-server-url', title: 'RunPod API served by this kernel' }, snapshot.server),
         button('Stop', 'Stop the local endpoint server (%rp_serve --stop)', () => this.actions.stopServer(),
           { disabled: reason, action: 'stop-server' })]
      : [h('span', { class: 'rp-muted' }, 'Local endpoint: off'),
         button(`Serve on :${this.actions.port()}`, 'Serve RunPod\u2019s API from this kernel (%rp_serve)',
           () => this.actions.startServer(), { disabled: reason, action: 'start-server' })];
    return h('section', { class: 'rp-server' }, ...body);
  }

  private _handlers(handlers: IHandlerInfo[], snapshot: ISnapshot): HTMLElement {
    const exportReason = exportDisabledReason(snapshot);
    const items = handlers.map(handler =>
      h('li', { class: 'rp-handler', 'data-name': handler.name },
        h('div', { class: 'rp-handler-head' },
          h('span', { class: 'rp-handler-name' }, handler.name),
          h('span', { class: 'rp-tag', 'data-kind': handler.kind }, kindLabel(handler))),
        h('div', { class: 'rp-handler-meta' },
          `${concurrencyLabel(handler)} · ${handler.jobs} job${handler.jobs === 1 ? '' : 's'}` +
            (handler.refresh_worker ? ' · refresh_worker' : '')),
        h('div', { class: 'rp-actions' },
          button('Run', `Run with: ${handler.request}`, () => this.actions.run(handler.name), { action: 'run' }),
          button('Export', 'Export as a RunPod worker (%rp_export)', () => this.actions.exportHandler(handler.name),
            { disabled: exportReason, action: 'export' })))
    );
    return h('section', { class: 'rp-section rp-handlers' },
      h('h3', {}, `Handlers (${handlers.length})`),
      items.length ? h('ul', {}, ...items) : h('p', { class: 'rp-muted' }, 'No handler yet: run a %%rp_handler cell.'));
  }

  private _jobs(rows: IJobRow[], labs: ILabRow[], keepReason: string | null): HTMLElement {
    const items = rows.map(row =>
      h('li', { class: 'rp-job', 'data-id': row.id, 'data-status': row.status, 'data-handler': row.handler },
        h('div', { class: 'rp-job-head' },
          h('span', { class: 'rp-chip', style: `background:${row.colour}`, title: row.label }, row.status),
          h('span', { class: 'rp-job-handler' }, row.handler),
          h('span', { class: 'rp-job-id', title: row.id }, row.shortId)),
        h('div', { class: 'rp-job-meta' }, row.times, row.progress ? ` · ${row.progress}` : ''),
        h('div', { class: 'rp-actions' },
          button('View', 'Show this job\u2019s live view in the notebook', () => this.actions.view(row.id),
            { action: 'view' }),
          row.live
            ? button('Cancel', 'Cancel as RunPod\u2019s /cancel does', () => this.actions.cancel(row.id),
                { action: 'cancel' })
            : null,
          row.keepable
            ? button('Keep as test', 'Keep this job as a regression test (%rp_tests add)',
                () => this.actions.keep(row.id, row.handler), { disabled: keepReason, action: 'keep' })
            : null))
    );
    const runs = labs.map(lab =>
      h('li', { class: 'rp-lab-run', 'data-run': String(lab.run), 'data-status': lab.status },
        h('div', { class: 'rp-job-head' },
          h('span', { class: 'rp-chip', style: `background:${lab.colour}` }, lab.status),
          h('span', { class: 'rp-job-meta', title: 'a concurrency-lab run: its jobs are not listed one by one' },
            lab.label)))
    );
    return h('section', { class: 'rp-section rp-jobs' },
      h('h3', {}, `Jobs (${rows.length})`),
      runs.length ? h('ul', { class: 'rp-lab-runs' }, ...runs) : null,
      items.length ? h('ul', {}, ...items) : h('p', { class: 'rp-muted' }, 'No job yet: %rp_run NAME {"input": {...}}'));
  }

  /** Calls that ignored their timeout or cancel: each still holds a thread (or a loop) of the kernel. */
  private _abandoned(lines: string[]): HTMLElement | null {
    if (!lines.length) {
      return null;
    }
    return h('section', { class: 'rp-section rp-abandoned', role: 'status' },
      h('h3', {}, `Abandoned calls (${lines.length})`),
      h('ul', {}, ...lines.map(line => h('li', { class: 'rp-abandoned-call' }, line))));
  }

  /** While a job is live its elapsed time advances once a second (no kernel traffic for that). */
  private _tick(live: boolean): void {
    if (live && !this._timer) {
      this._timer = window.setInterval(() => this.isVisible && this.render(), 1000);
    } else if (!live && this._timer) {
      window.clearInterval(this._timer);
      this._timer = 0;
    }
  }

  private _timer = 0;
  private _command: ICommandStatus | null = null;
  private _commands = 0;
}
