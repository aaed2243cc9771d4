/**
 * rp-jupyter: a RunPod sidebar (handlers, jobs, actions) following the active notebook's kernel,
 * handler-cell templates in the palette and the notebook toolbar, and a status bar item.
 */
import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { LabIcon } from '@jupyterlab/ui-components';
import { Signal } from '@lumino/signaling';

import { IReply, RunPodModel } from './connection';
import { askExport, pickTemplate, showExportResult } from './dialogs';
import { exportPath } from './model';
import { watchReopened } from './reopen';
import { RunPodSidebar } from './sidebar';
import { RunPodStatus } from './statusbar';
import { TEMPLATES, cellsToInsert, findTemplate, jobViewSource } from './templates';

const PLUGIN = 'rp-jupyter:plugin';

export const CommandIDs = {
  insert: 'rp-jupyter:insert-handler',
  open: 'rp-jupyter:open-sidebar',
  run: 'rp-jupyter:run-handler',
  cancel: 'rp-jupyter:cancel-job',
  keep: 'rp-jupyter:keep-job-as-test',
  export: 'rp-jupyter:export-handler',
  serve: 'rp-jupyter:start-server',
  stop: 'rp-jupyter:stop-server',
  view: 'rp-jupyter:open-job-view'
};

export const runpodIcon = new LabIcon({
  name: 'rp-jupyter:runpod',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<path d="M12 2 3 7v10l9 5 9-5V7l-9-5zm0 2.3L18.6 8 12 11.7 5.4 8 12 4.3zM5 9.7l6 3.4v6.6l-6-3.3V9.7zm8 10v-6.6l6-3.4v6.7l-6 3.3z"/>' +
    '</g></svg>'
});

interface ISettings {
  exportDirectory: string;
  serverPort: number;
  defaultTemplate: string;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN,
  description: 'RunPod sidebar, handler templates and status bar for rp_jupyter.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, ILabShell, IStatusBar, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette | null,
    labShell: ILabShell | null,
    statusBar: IStatusBar | null,
    registry: ISettingRegistry | null
  ) => {
    const settings: ISettings = { exportDirectory: 'workers', serverPort: 8000, defaultTemplate: 'standard' };
    if (registry) {
      void registry.load(PLUGIN).then(loaded => {
        const read = () => Object.assign(settings, loaded.composite as Partial<ISettings>);
        loaded.changed.connect(read);
        read();
      }).catch(reason => console.warn('rp-jupyter: settings not loaded', reason));
    }

    const model = new RunPodModel(tracker);
    watchReopened(tracker); // saved notebooks: dead live widgets give way to their static copies
    const { commands } = app;
    const link = () => model.current;

    type Finish = (reply: IReply) => void | Promise<void>;
    const late = new Map<string, Finish>(); // commands that got no answer in time: their answer, when it comes

    /**
     * Run a command in the kernel. Its answer goes to `finish`; with no answer within 5 s the sidebar
     * and a notification say so at once, with Retry (the same id: it never runs twice), and the answer
     * still goes to `finish` if it comes later.
     */
    const runCommand = async (label: string, cmd: string, args: Record<string, unknown>, finish: Finish,
                              id?: string): Promise<void> => {
      const current = link();
      sidebar.showCommand({ label, state: 'running' });
      const started = () => sidebar.showCommand({ label, state: 'started' });
      const reply = current
        ? await current.command(cmd, args, id, started)
        : { ok: false, text: 'no notebook kernel is active' };
      if (reply.pending && reply.id) {
        late.set(reply.id, finish);
        const retry = () => void runCommand(label, cmd, args, finish, reply.id);
        sidebar.showCommand({ label, state: 'pending', text: reply.text, retry });
        Notification.warning(`${label}: ${reply.text}`, { autoClose: 10000, actions: [{ label: 'Retry', callback: retry }] });
        return;
      }
      await finish(reply);
    };
    model.lateReply.connect((_, reply) => {
      const finish = reply.id ? late.get(reply.id) : undefined;
      if (finish && reply.id) {
        late.delete(reply.id);
        void finish(reply);
      }
    });

    /** The usual ending: the sidebar's status line and a notification. */
    const notify = (label: string, cmd: string, args: Record<string, unknown>): Finish => reply => {
      const retry = reply.ok ? undefined : () => void runCommand(label, cmd, args, notify(label, cmd, args));
      sidebar.showCommand({ label, state: reply.ok ? 'ok' : 'failed', text: reply.text, retry });
      if (reply.ok) {
        Notification.success(reply.text.split('\n')[0] || label, { autoClose: 4000 });
      } else {
        Notification.error(`${label}: ${reply.text}`, { autoClose: 8000 });
      }
    };
    const send = (cmd: string, args: Record<string, unknown>, label: string): Promise<void> =>
      runCommand(label, cmd, args, notify(label, cmd, args));

    commands.addCommand(CommandIDs.insert, {
      label: args => {
        if (args.toolbar) {
          return '';
        }
        const template = args.template ? findTemplate(String(args.template)) : undefined;
        return template ? `Insert RunPod Handler Cell: ${template.label}` : 'Insert RunPod Handler Cell…';
      },
      caption: args => findTemplate(args.template as string | undefined)?.caption ?? 'Insert a %%rp_handler cell from a template',
      icon: args => (args.toolbar ? runpodIcon : undefined),
      isEnabled: () => tracker.currentWidget !== null,
      execute: async args => {
        const panel = tracker.currentWidget;
        if (!panel) {
          return;
        }
        const id = args.template ? String(args.template) : await pickTemplate(settings.defaultTemplate);
        if (!id) {
          return;
        }
        const notebook = panel.content;
        const sources = notebook.widgets.filter(c => c.model.type === 'code').map(c => c.model.sharedModel.getSource());
        const cells = cellsToInsert(id, sources);
        cells.forEach((source, i) => {
          const active = notebook.activeCell;
          const reuse = i === 0 && active && active.model.type === 'code' && !active.model.sharedModel.getSource().trim();
          if (!reuse) {
            NotebookActions.insertBelow(notebook);
          }
          notebook.activeCell?.model.sharedModel.setSource(source);
        });
        notebook.activate();
      }
    });

    commands.addCommand(CommandIDs.view, {
      label: 'Open RunPod Job View',
      caption: 'Append a cell that shows this job\u2019s live view, and run it',
      isEnabled: args => Boolean(args.job) && tracker.currentWidget !== null,
      execute: async args => {
        const panel = tracker.currentWidget;
        if (!panel || !args.job) {
          return;
        }
        const notebook = panel.content;
        notebook.activeCellIndex = notebook.widgets.length - 1;
        NotebookActions.insertBelow(notebook);
        notebook.activeCell?.model.sharedModel.setSource(jobViewSource(String(args.job)));
        await NotebookActions.run(notebook, panel.sessionContext);
      }
    });
    commands.addCommand(CommandIDs.open, {
      label: 'Show RunPod Sidebar',
      icon: runpodIcon,
      execute: () => app.shell.activateById(sidebar.id)
    });
    commands.addCommand(CommandIDs.run, {
      label: args => (args.handler ? `Run RunPod Handler ${args.handler} (last request)` : 'Run RunPod Handler'),
      isEnabled: args => Boolean(args.handler) && model.snapshot !== null,
      execute: args => send('run', { handler: args.handler }, `Run ${args.handler}`)
    });
    commands.addCommand(CommandIDs.cancel, {
      label: 'Cancel RunPod Job',
      isEnabled: args => Boolean(args.job) && model.snapshot !== null,
      execute: args => send('cancel', { job: args.job }, 'Cancel')
    });
    commands.addCommand(CommandIDs.keep, {
      label: 'Keep RunPod Job as a Test',
      caption: 'Keep this job as a regression test of its handler (%rp_tests add)',
      isEnabled: args => Boolean(args.job && args.handler && model.snapshot?.features.tests),
      execute: args => send('keep', { handler: args.handler, job: args.job }, 'Kept as a test')
    });
    commands.addCommand(CommandIDs.export, {
      label: 'Export RunPod Handler as a Worker…',
      isEnabled: () => Boolean(model.snapshot?.features.export && model.snapshot.handlers.length),
      execute: async args => {
        const handlers = model.snapshot?.handlers.map(h => h.name) ?? [];
        const first = args.handler ? String(args.handler) : handlers[0];
        const choice = await askExport(handlers, first, name => exportPath(settings.exportDirectory, name));
        if (!choice) {
          return;
        }
        const label = `Export ${choice.handler}`;
        await runCommand(label, 'export', { handler: choice.handler, out: choice.out, base_image: choice.baseImage || null,
          hub: choice.hub },
          async reply => {
            sidebar.showCommand({ label, state: reply.ok ? 'ok' : 'failed', text: reply.ok ? `written to ${choice.out}` : reply.text });
            await showExportResult(label, reply, path =>
              void commands.execute('filebrowser:go-to-path', { path: `/${path}` })
            );
          });
      }
    });
    commands.addCommand(CommandIDs.serve, {
      label: () => `Start RunPod Local Endpoint (port ${settings.serverPort})`,
      isEnabled: () => Boolean(model.snapshot?.features.serve && !model.snapshot.server),
      execute: () => send('serve', { port: settings.serverPort }, 'Local endpoint')
    });
    commands.addCommand(CommandIDs.stop, {
      label: 'Stop RunPod Local Endpoint',
      isEnabled: () => Boolean(model.snapshot?.features.serve && model.snapshot.server),
      execute: () => send('stop_serve', {}, 'Local endpoint')
    });

    const sidebar = new RunPodSidebar(model, {
      run: handler => void commands.execute(CommandIDs.run, { handler }),
      cancel: job => void commands.execute(CommandIDs.cancel, { job }),
      keep: (job, handler) => void commands.execute(CommandIDs.keep, { job, handler }),
      view: job => void commands.execute(CommandIDs.view, { job }),
      exportHandler: handler => void commands.execute(CommandIDs.export, { handler }),
      startServer: () => void commands.execute(CommandIDs.serve),
      stopServer: () => void commands.execute(CommandIDs.stop),
      insertHandler: () => void commands.execute(CommandIDs.insert),
      port: () => settings.serverPort
    });
    sidebar.title.icon = runpodIcon;
    app.shell.add(sidebar, 'left', { rank: 900 });
    model.changed.connect(() => commands.notifyCommandChanged());

    if (palette) {
      const category = 'RunPod';
      palette.addItem({ command: CommandIDs.insert, category });
      for (const template of TEMPLATES) {
        palette.addItem({ command: CommandIDs.insert, category, args: { template: template.id } });
      }
      for (const command of [CommandIDs.open, CommandIDs.export, CommandIDs.serve, CommandIDs.stop]) {
        palette.addItem({ command, category });
      }
    }

    if (statusBar) {
      const item = new RunPodStatus(model, () => app.shell.activateById(sidebar.id));
      const activeChanged = new Signal<RunPodStatus, void>(item);
      labShell?.currentChanged.connect(() => activeChanged.emit());
      statusBar.registerStatusItem('rp-jupyter:status', {
        item,
        align: 'left',
        rank: 4,
        isActive: () => tracker.currentWidget !== null && (!labShell || labShell.currentWidget === tracker.currentWidget),
        activeStateChanged: activeChanged
      });
    }
  }
};

export default plugin;
