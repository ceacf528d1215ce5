"""The activity charts read a span of submitted times and group its jobs by day, outcome, service, machine or user:
on PostgreSQL an index on submitted that carries those columns lets them read the index alone (about half the time of
reading the table, at some 116 bytes a job; bench/history_db.py). SQLite (the demo) has no such index: none here."""

from django.db import migrations

NAME = "history_activity"
COLUMNS = "site_id, status, gone_while, duration_ms, service_key, machine, username"


def create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {NAME} ON history_indexedjob (submitted) INCLUDE ({COLUMNS})"
        )


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("history", "0005_ended_outcomes_index")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
