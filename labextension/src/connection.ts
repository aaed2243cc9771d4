/**
 * The comm with each notebook kernel's rp_jupyter (target `rp_jupyter`), and the model the views
 * read: the snapshot of the *active* notebook's kernel.
 *
 * The kernel opens a comm when `%load_ext rp_jupyter` runs (caught by the target registered here);
 * a page opened later asks `comm_info` and, if the kernel has one, opens its own.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { Connection, ISnapshot, asSnapshot } from './model';

export const TARGET = 'rp_jupyter';
const REPLY_TIMEOUT_MS = 180_000;

export interface IReply {
  ok: boolean;
  text: string;
  /** export: the worker folder, absolute, as the kernel wrote it */
  directory?: string;
}

/** One kernel's rp_jupyter, seen through its comm. */
export class KernelLink implements IDisposable {
  constructor(readonly kernel: Kernel.IKernelConnection) {
    kernel.registerCommTarget(TARGET, this._onOpen);
    kernel.statusChanged.connect(this._onStatus, this);
    kernel.connectionStatusChanged.connect(this._onConnection, this);
    void this.probe();
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }
  get snapshot(): ISnapshot | null {
    return this._snapshot;
  }
  /** When the last snapshot arrived (browser clock, ms). */
  get receivedAt(): number {
    return this._receivedAt;
  }
  get connection(): Connection {
    return this._comm && this._snapshot ? 'connected' : 'not-loaded';
  }
  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Send a command; resolves with the kernel's reply. */
  command(cmd: string, args: Record<string, unknown> = {}): Promise<IReply> {
    const comm = this._comm;
    if (!comm) {
      return Promise.resolve({ ok: false, text: 'rp_jupyter is not loaded in this kernel (%load_ext rp_jupyter)' });
    }
    const id = `${++this._next}`;
    return new Promise<IReply>(resolve => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        resolve({ ok: false, text: `no answer from the kernel within ${REPLY_TIMEOUT_MS / 1000} s (is it busy?)` });
      }, REPLY_TIMEOUT_MS);
      this._pending.set(id, reply => {
        clearTimeout(timer);
        resolve(reply);
      });
      comm.send({ cmd, id, ...args } as any);
    });
  }

  /** Attach to an rp_jupyter already loaded in the kernel (a page opened after `%load_ext`). */
  async probe(): Promise<void> {
    if (this._comm || this._disposed || this.kernel.isDisposed) {
      return;
    }
    try {
      const reply = await this.kernel.requestCommInfo({ target_name: TARGET });
      const content = reply.content;
      if (content.status !== 'ok' || !Object.keys(content.comms).length || this._comm) {
        return;
      }
      const comm = this.kernel.createComm(TARGET);
      this._attach(comm);
      comm.open({ cmd: 'subscribe' });
    } catch {
      // a kernel restarting or gone: the next status change probes again
    }
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    if (!this.kernel.isDisposed) {
      this.kernel.removeCommTarget(TARGET, this._onOpen);
    }
    Signal.clearData(this);
  }

  private _onOpen = (comm: Kernel.IComm, msg: KernelMessage.ICommOpenMsg): void => {
    this._attach(comm);
    comm.send({ cmd: 'subscribe' });
  };

  private _attach(comm: Kernel.IComm): void {
    this._comm = comm;
    comm.onMsg = msg => this._onMessage(comm, msg);
    comm.onClose = () => {
      if (this._comm === comm) {
        this._reset();
      }
    };
  }

  private _onMessage(comm: Kernel.IComm, msg: KernelMessage.ICommMsgMsg): void {
    const data = msg.content.data as Record<string, any>;
    if (data.type === 'reply') {
      const resolve = this._pending.get(String(data.id));
      this._pending.delete(String(data.id));
      const directory = typeof data.directory === 'string' ? data.directory : undefined;
      resolve?.({ ok: Boolean(data.ok), text: String(data.text ?? ''), directory });
      return;
    }
    const snapshot = asSnapshot(data);
    if (snapshot && comm === this._comm) {
      this._snapshot = snapshot;
      this._receivedAt = Date.now();
      this._changed.emit();
    }
  }

  private _onStatus(_: Kernel.IKernelConnection, status: Kernel.Status): void {
    if (status === 'restarting' || status === 'autorestarting' || status === 'dead') {
      this._reset();
    }
  }

  private _onConnection(_: Kernel.IKernelConnection, status: Kernel.ConnectionStatus): void {
    if (status === 'connected') {
      void this.probe();
    }
  }

  private _reset(): void {
    this._comm = null;
    this._snapshot = null;
    for (const resolve of this._pending.values()) {
      resolve({ ok: false, text: 'the kernel closed the rp_jupyter comm' });
    }
    this._pending.clear();
    this._changed.emit();
  }

  private _comm: Kernel.IComm | null = null;
  private _snapshot: ISnapshot | null = null;
  private _receivedAt = 0;
  private _next = 0;
  private _pending = new Map<string, (reply: IReply) => void>();
  private _disposed = false;
  private _changed = new Signal<this, void>(this);
}

/** The links of every open notebook's kernel; `current` follows the active notebook. */
export class RunPodModel {
  constructor(readonly tracker: INotebookTracker) {
    tracker.widgetAdded.connect((_, panel) => this._watch(panel));
    tracker.forEach(panel => this._watch(panel));
    tracker.currentChanged.connect(this._follow, this);
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }
  get current(): KernelLink | null {
    const kernel = this.tracker.currentWidget?.sessionContext.session?.kernel;
    return kernel ? this._links.get(kernel.id) ?? null : null;
  }
  get connection(): Connection {
    return this.current?.connection ?? 'no-kernel';
  }
  get snapshot(): ISnapshot | null {
    return this.current?.snapshot ?? null;
  }

  private _watch(panel: NotebookPanel): void {
    const context = panel.sessionContext;
    const update = () => {
      const kernel = context.session?.kernel;
      if (kernel) {
        this._link(kernel);
      }
      this._follow();
    };
    context.kernelChanged.connect(update);
    context.sessionChanged.connect(update);
    void context.ready.then(update);
    update();
  }

  private _link(kernel: Kernel.IKernelConnection): KernelLink {
    let link = this._links.get(kernel.id);
    if (!link || link.kernel !== kernel) {
      link?.dispose();
      link = new KernelLink(kernel);
      this._links.set(kernel.id, link);
      link.changed.connect(() => {
        if (link === this.current) {
          this._changed.emit();
        }
      });
      kernel.disposed.connect(() => {
        link?.dispose();
        if (this._links.get(kernel.id) === link) {
          this._links.delete(kernel.id);
        }
        this._changed.emit();
      });
    }
    return link;
  }

  private _follow(): void {
    this._changed.emit();
  }

  private _links = new Map<string, KernelLink>();
  private _changed = new Signal<this, void>(this);
}
