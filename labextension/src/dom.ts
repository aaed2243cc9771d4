/** A tiny DOM builder: text goes through textContent, never innerHTML (handler names are user text). */
export type Child = Node | string | null | undefined | false;

export function h(
  tag: string,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElement {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) {
      continue;
    }
    node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

export function button(
  label: string,
  title: string,
  onClick: () => void,
  options: { disabled?: string | null; cls?: string; action?: string } = {}
): HTMLElement {
  const node = h(
    'button',
    {
      class: `jp-Button rp-button ${options.cls ?? ''}`.trim(),
      title: options.disabled ?? title,
      'data-action': options.action,
      'aria-disabled': options.disabled ? 'true' : undefined,
      disabled: Boolean(options.disabled)
    },
    label
  );
  node.addEventListener('click', event => {
    event.stopPropagation();
    if (!options.disabled) {
      onClick();
    }
  });
  return node;
}
