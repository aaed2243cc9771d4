/** The status bar item: "RunPod: idle · CPU", "RunPod: 2 running, 1 queued · NVIDIA H100". */
import { Widget } from '@lumino/widgets';

import { RunPodModel } from './connection';
import { statusText } from './model';

export class RunPodStatus extends Widget {
  constructor(
    private readonly model: RunPodModel,
    onClick: () => void
  ) {
    super();
    this.addClass('rp-statusbar');
    this.node.title = 'RunPod: open the sidebar';
    this.node.addEventListener('click', onClick);
    model.changed.connect(this.update, this);
    this.update();
  }

  protected onUpdateRequest(): void {
    const snapshot = this.model.snapshot;
    this.node.textContent = statusText(this.model.connection, snapshot);
    const busy = snapshot ? (snapshot.counts.IN_PROGRESS ?? 0) + (snapshot.counts.IN_QUEUE ?? 0) > 0 : false;
    this.node.dataset.busy = busy ? 'true' : 'false';
  }
}
