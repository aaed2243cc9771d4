"""Live views of runtime events (anywidget front ends shipped in the package, no build step).

Views never drive the runtime except to cancel a job; the run form submits through a function the
magics layer hands it, and the magics tell the views where the local endpoint is and how lab runs group.
"""

from ._job_view import JobView, resync_finished_views, use_local_endpoint
from ._jobs_table import JobsPanel, use_job_groups
from ._run_form import RunForm
from ._tests_view import TestsView

__all__ = ["JobView", "JobsPanel", "RunForm", "TestsView", "resync_finished_views", "use_job_groups",
           "use_local_endpoint"]
