"""Live views of runtime events (anywidget front ends shipped in the package, no build step).

Views never drive the runtime except to cancel a job.
"""

from ._job_view import JobView

__all__ = ["JobView"]
