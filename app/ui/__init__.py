"""Streamlit-only helpers shared by the pages (app/views). No scoring or analysis happens here.

Page state lives in the URL through Streamlit's `bind="query-params"` on each widget, so a view can be
shared by copying the address.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:  # `streamlit run app/streamlit_app.py` puts app/ on the path, not the root
    sys.path.insert(0, str(ROOT))

from app.ui.jobs import (check_capacity, describe, failure, job_progress, jobs_table, live_job,  # noqa: E402,F401
                         submit_search)
from app.ui.differences import show_differences  # noqa: E402,F401
from app.ui.formatting import (axis_scale, checkpoint_aliases, default_models, describe_alias, file_name,  # noqa: E402,F401
                               number_columns, registry_options, settings_line, slug, visible_token)
from app.ui.messages import friendly_message, guard, public_safe, public_safe_table, show_error  # noqa: E402,F401
from app.ui.paired import paired_view  # noqa: E402,F401
from app.ui.reports import report_button  # noqa: E402,F401
from app.ui.resources import (cache, cached_run, forget_run, home, ranking_export,  # noqa: E402,F401
                              ranking_summary, run_scores, word_positions)
from app.ui.uploads import save_upload  # noqa: E402,F401
from app.ui.widgets import config_widgets, download_csv  # noqa: E402,F401
