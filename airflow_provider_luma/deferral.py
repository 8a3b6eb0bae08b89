"""How the operators and the sensor wait (on the triggerer or in the worker), and a wait's time limits."""

from __future__ import annotations

import random
from datetime import timedelta

#: Airflow's own deferral timeout is set this much past the trigger's deadline, so that the
#: trigger's clearer timeout event (and its ``delete_on_timeout``) arrives first.
DEFERRAL_MARGIN = timedelta(seconds=60)
#: A poll always gets this long, even at the deadline: a wait taken over late still asks once.
MIN_POLL_SECONDS = 5.0
#: How long the delete of ``delete_on_timeout`` and ``cancel_on_kill`` may take.
DELETE_SECONDS = 10.0


def resolve_deferrable(deferrable: bool | None) -> bool:
    """
    The ``deferrable`` argument, defaulting to Airflow's ``[operators] default_deferrable``.

    :param deferrable: what the user passed, or None.
    """
    if deferrable is not None:
        return deferrable
    from airflow.providers.common.compat.sdk import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


#: Added to Luma's Retry-After before a rate-limited create is sent again, so that the tasks
#: turned away together do not all come back at the same instant.
RATE_LIMIT_JITTER_SECONDS = 1.0
#: How long to wait after a 429 that gives no Retry-After.
RATE_LIMIT_DEFAULT_PAUSE_SECONDS = 5.0


def rate_limit_pause(retry_after: float | None) -> float:
    """
    Seconds to wait before creating again after Luma's 429: its Retry-After, plus jitter.

    :param retry_after: what Luma asked for, if it said.
    """
    pause = RATE_LIMIT_DEFAULT_PAUSE_SECONDS if retry_after is None else retry_after
    return pause + random.uniform(0, RATE_LIMIT_JITTER_SECONDS)
