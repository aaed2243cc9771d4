/**
 * Each notebook kernel's rp_jupyter, and the model the views read: the snapshot of the *active*
 * notebook's kernel.
 *
 * The kernel owns one `rp_jupyter` comm and never opens it on a page: a page finds its id with
 * `comm_info` (or from the `hello` the kernel broadcasts on `%load_ext`), hears it on IOPub, and sends
 * it plain `comm_msg` on the main shell channel. No comm is created on the page, so JupyterLab never
 * routes our messages over a kernel subshell (whatever its "comms over subshells" setting), and a page
 * load leaves nothing behind in the kernel. Commands carry an id unique to the page; the kernel acks a
 * command when it starts it — no ack within ACK_TIMEOUT_MS means the kernel is busy (a cell is running)
 * or did not get it, and the caller offers Retry, which sends the same id (the kernel answers a
 * repeated id with its first answer: a command never runs twice).
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { Connection, ISnapshot, asSnapshot } from './model';

export const TARGET = 'rp_jupyter';
export const ACK_TIMEOUT_MS = 5_000;
const REPLY_TIMEOUT_MS = 600_000;

export interface IReply {
  ok: boolean;
  text: string;
  /** No answer in time: the command may still run (when the kernel is free), and can be retried. */
  pending?: boolean;
  /** The command's id, for a retry. */
  id?: string;
  /** export: the worker folder, absolute, as the kernel wrote it */
  directory?: string;
}

interface IPending {
  acked: boolean;
  onAck?: () => void;
  resolve: (reply: IReply) => void;
  late: (reply: IReply) => void;
  timer: number;
}

/** One kernel's rp_jupyter, seen through its comm. */
export class KernelLink implements IDisposable {
  constructor(readonly kernel: Kernel.IKernelConnection) {
    kernel.iopubMessage.connect(this._onIOPub, this);
    kernel.statusChanged.connect(this._onStatus, this);
    kernel.connectionStatusChanged.connect(this._onConnection, this);
    void this.probe();
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }
  /** A command's answer that came after the caller gave up waiting (id, reply). */
  get lateReply(): ISignal<this, IReply> {
    return this._lateReply;
  }
  get snapshot(): ISnapshot | null {
    return this._snapshot;
  }
  /** When the last snapshot arrived (browser clock, ms). */
  get receivedAt(): number {
    return this._receivedAt;
  }
  get connection(): Connection {
    return this._commId && this._snapshot ? 'connected' : 'not-loaded';
  }
  get isDisposed(): boolean {
    return this._disposed;
  }

  /**
   * Send a command; resolves with the kernel's reply, or — when the kernel has not started it within
   * ACK_TIMEOUT_MS — with `{ok: false, pending: true}` (a later answer comes through `lateReply`).
   * `id`: an earlier command's id, to retry it; `onAck`: called when the kernel starts it.
   */
  command(cmd: string, args: Record<string, unknown> = {}, id?: string, onAck?: () => void): Promise<IReply> {
    if (!this._commId) {
      return Promise.resolve({ ok: false, text: 'rp_jupyter is not loaded in this kernel (%load_ext rp_jupyter)' });
    }
    const requestId = id ?? `${this._page}-${++this._next}`;
    const old = this._pending.get(requestId);
    if (old) {
      window.clearTimeout(old.timer);
    }
    return new Promise<IReply>(resolve => {
      const entry: IPending = {
        acked: false,
        onAck,
        resolve,
        late: reply => this._lateReply.emit(reply),
        timer: 0
      };
      const giveUp = () => {
        entry.resolve = entry.late; // an answer after this goes to lateReply
        resolve({ ok: false, pending: true, id: requestId, text: this._noAnswer(entry.acked) });
      };
      entry.timer = window.setTimeout(giveUp, ACK_TIMEOUT_MS);
      this._pending.set(requestId, entry);
      if (!this._send({ cmd, id: requestId, ...args })) {
        window.clearTimeout(entry.timer);
        this._pending.delete(requestId);
        resolve({ ok: false, id: requestId, text: 'the kernel is not connected' });
      }
    });
  }

  /** Find the kernel's comm (a page opened after `%load_ext`, a reconnect). */
  async probe(): Promise<void> {
    if (this._disposed || this.kernel.isDisposed) {
      return;
    }
    try {
      const reply = await this.kernel.requestCommInfo({ target_name: TARGET });
      const content = reply.content;
      if (content.status !== 'ok') {
        return;
      }
      const ids = Object.keys(content.comms);
      if (ids.length && ids[0] !== this._commId) {
        this._attach(ids[0]);
      } else if (!ids.length && this._commId) {
        this._reset();
      }
    } catch {
      // a kernel restarting or gone: the next status change probes again
    }
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._reset();
    Signal.clearData(this);
  }

  private _attach(commId: string): void {
    this._commId = commId;
    this._send({ cmd: 'subscribe' });
  }

  /** A comm_msg to the kernel's comm, on the main shell channel (never a subshell). */
  private _send(data: Record<string, unknown>): boolean {
    if (!this._commId || this.kernel.isDisposed || this.kernel.connectionStatus !== 'connected') {
      return false;
    }
    const msg = KernelMessage.createMessage({
      msgType: 'comm_msg',
      channel: 'shell',
      username: this.kernel.username,
      session: this.kernel.clientId,
      content: { comm_id: this._commId, data: data as any }
    });
    try {
      this.kernel.sendShellMessage(msg, false, true);
      return true;
    } catch {
      return false;
    }
  }

  private _onIOPub(_: Kernel.IKernelConnection, msg: KernelMessage.IIOPubMessage): void {
    if (msg.header.msg_type !== 'comm_msg') {
      return;
    }
    const content = (msg as KernelMessage.ICommMsgMsg).content;
    const data = content.data as Record<string, any>;
    if (content.comm_id !== this._commId) {
      if (data?.type === 'hello' && data.target === TARGET) {
        this._attach(content.comm_id); // %load_ext just ran in this kernel
      }
      return;
    }
    switch (data?.type) {
      case 'ack': {
        const pending = this._pending.get(String(data.id));
        if (pending) {
          pending.acked = true;
          pending.onAck?.();
          window.clearTimeout(pending.timer); // started: wait for its reply as long as a command may take
          pending.timer = window.setTimeout(() => {
            this._pending.delete(String(data.id));
            pending.resolve({ ok: false, id: String(data.id), text: this._noAnswer(true) });
          }, REPLY_TIMEOUT_MS);
        }
        return;
      }
      case 'reply': {
        const pending = this._pending.get(String(data.id));
        if (pending) {
          window.clearTimeout(pending.timer);
          this._pending.delete(String(data.id));
          const directory = typeof data.directory === 'string' ? data.directory : undefined;
          pending.resolve({ ok: Boolean(data.ok), text: String(data.text ?? ''), id: String(data.id), directory });
        }
        return;
      }
      case 'bye':
        this._reset();
        return;
      default: {
        const snapshot = asSnapshot(data);
        if (snapshot) {
          this._snapshot = snapshot;
          this._receivedAt = Date.now();
          this._changed.emit();
        }
      }
    }
  }

  private _noAnswer(acked: boolean): string {
    if (acked) {
      return 'the kernel started the command but has not finished it yet';
    }
    const busy = this.kernel.status === 'busy';
    return (
      `no answer from the kernel within ${ACK_TIMEOUT_MS / 1000} s` +
      (busy ? ': it is busy running a cell (the command runs when the cell ends)' : '')
    );
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
    this._commId = null;
    this._snapshot = null;
    for (const [id, pending] of this._pending) {
      window.clearTimeout(pending.timer);
      pending.resolve({ ok: false, id, text: 'rp_jupyter left this kernel (unloaded or restarted)' });
    }
    this._pending.clear();
    this._changed.emit();
  }

  private _commId: string | null = null;
  private _snapshot: ISnapshot | null = null;
  private _receivedAt = 0;
  private _next = 0;
  private readonly _page = Math.random().toString(36).slice(2, 10);
  private _pending = new Map<string, IPending>();
  private _disposed = false;
  private _changed = new Signal<this, void>(this);
  private _lateReply = new Signal<this, IReply>(this);
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
  /** A late answer from any kernel's rp_jupyter. */
  get lateReply(): ISignal<this, IReply> {
    return this._lateReply;
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
      const made = new KernelLink(kernel);
      link = made;
      this._links.set(kernel.id, made);
      made.changed.connect(() => {
        if (made === this.current) {
          this._changed.emit();
        }
      });
      made.lateReply.connect((_, reply) => this._lateReply.emit(reply));
      kernel.disposed.connect(() => {
        made.dispose();
        if (this._links.get(kernel.id) === made) {
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
  private _lateReply = new Signal<this, IReply>(this);
}
