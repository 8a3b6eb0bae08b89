"""Airflow UI plugins shipped with the provider (registered in ``get_provider_info()["plugins"]``)."""
