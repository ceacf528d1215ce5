"""The activity charts' duration percentiles (history.activity) read a period's succeeded jobs at a time, by their
bounds: on PostgreSQL a partial index of the succeeded jobs on (site, submitted) that carries their duration hands
each period's over from the index alone, a few dozen bytes a job. The counts keep reading history_activity (0006),
once for all of them. SQLite (the demo) gets no such index."""

from django.db import migrations

NAME = "history_activity_succeeded"


def create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {NAME} ON history_indexedjob (site_id, submitted) INCLUDE (duration_ms) "
            "WHERE status = 'esriJobSucceeded' AND gone_while = ''"
        )


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("history", "0008_index_of_active_jobs")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
