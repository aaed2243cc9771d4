/** Where an exported worker folder is for JupyterLab's file browser (pure: unit-tested with node). */

function normalise(path: string): string {
  return path.replace(/\\/g, '/').replace(/\/+$/, '');
}

/**
 * `directory` (absolute, as the kernel wrote it) relative to the Jupyter server's root `root`
 * (PageConfig's `serverRoot`): `''` for the root itself, `null` when the folder is outside it (the file
 * browser cannot open it) or the root is unknown.
 */
export function browserPath(directory: string, root: string): string | null {
  const dir = normalise(directory);
  const base = normalise(root);
  if (!root.trim() || base.startsWith('~') || !dir) {
    return null;
  }
  if (dir === base) {
    return '';
  }
  return dir.startsWith(base + '/') ? dir.slice(base.length + 1) : null; // base '' is the root '/'
}
