"""The worker's container disk, estimated: its base image plus what ``pip install -r requirements.txt``
adds (the requirements and their dependencies, at the sizes installed in the kernel), with headroom.

RunPod caches the image on the container disk, and the handler writes there too (downloads,
temporary files): ``disk = (image + packages) × 1.25 + 5 GB``, rounded up. Installed sizes are the
``RECORD`` sizes of the kernel's own distributions (importlib.metadata: nothing is imported).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import math
import re
from collections.abc import Callable, Iterable

from ._model import canonical

__all__ = ["DiskEstimate", "estimate_disk", "installed_distribution", "requirement_names"]

HEADROOM = 1.25
SCRATCH_GB = 5.0
IMAGE_GB = {  # uncompressed size of the base images export picks, approximately (GB)
    "runpod/pytorch": 12.0,
    "runpod/base": 8.0,
    "python": 0.2,
}
UNKNOWN_IMAGE_GB = 10.0
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")

Installed = Callable[[str], "tuple[int, list[str]] | None"]
"""canonical distribution name -> (installed bytes, the names it requires), or None if not installed."""


@dataclasses.dataclass(frozen=True)
class DiskEstimate:
    gb: int
    image_gb: float
    packages_gb: float
    distributions: int

    @property
    def note(self) -> str:
        return (f"container disk {self.gb} GB: base image ~{self.image_gb:g} GB + {self.distributions} "
                f"distribution(s) {self.packages_gb:.2f} GB installed, x{HEADROOM:g} + {SCRATCH_GB:g} GB scratch "
                "(raise it if the handler downloads model weights at start)")


def requirement_names(requirements_txt: str) -> list[str]:
    """Canonical names of the distributions a requirements.txt installs (comments and options skipped)."""
    names = []
    for line in requirements_txt.splitlines():
        line = line.strip()
        match = _NAME.match(line) if line and not line.startswith(("#", "-")) else None
        if match:
            names.append(canonical(match.group(1)))
    return names


def estimate_disk(image: str, names: Iterable[str], provided: Iterable[str] = (),
                  installed: Installed | None = None) -> DiskEstimate:
    """Disk for ``image`` plus the distributions ``names`` pull in; ``provided`` ones (the image's own
    torch) are not installed again, nor what only they require."""
    lookup = installed or installed_distribution
    seen: set[str] = {canonical(n) for n in provided}
    todo, total, count = [canonical(n) for n in names], 0, 0
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        found = lookup(name)
        if found is None:
            continue
        size, requires = found
        total, count = total + size, count + 1
        todo += [canonical(r) for r in requires]
    image_gb = _image_gb(image)
    packages_gb = total / 1024**3
    return DiskEstimate(math.ceil((image_gb + packages_gb) * HEADROOM + SCRATCH_GB), image_gb, packages_gb, count)


def _image_gb(image: str) -> float:
    repository = image.split("@")[0].split(":")[0]
    return IMAGE_GB.get(repository, IMAGE_GB["python"] if repository.endswith("python") else UNKNOWN_IMAGE_GB)


def installed_distribution(name: str) -> tuple[int, list[str]] | None:
    """The kernel's distribution ``name``: its installed bytes and the names it requires here
    (environment markers evaluated; extras not followed)."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    size = sum(f.size or 0 for f in dist.files or ())
    requires = []
    for text in dist.requires or ():
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            requires.append(requirement.name)
    return size, requires
