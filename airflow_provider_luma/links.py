"""The "Luma asset" button of a finished task in Airflow's UI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

from airflow_provider_luma.asset_urls import web_url
from airflow_provider_luma.generations import XCOM_GENERATION, asset_url

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, TaskInstanceKey


class LumaGenerationLink(BaseOperatorLink):
    """Link from a finished task to the asset it generated on Luma's CDN."""

    name = "Luma asset"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """
        The asset URL of the task's generation, or "" while there is none.

        Only an ``http`` or ``https`` URL is ever returned: the XCom may have been written by anyone
        allowed to write XComs, and the UI would put a ``javascript:`` URL in a link as it is.

        :param operator: the task's operator.
        :param ti_key: the task instance.
        """
        generation = XCom.get_value(ti_key=ti_key, key=XCOM_GENERATION)
        return (web_url(asset_url(generation)) or "") if isinstance(generation, dict) else ""
