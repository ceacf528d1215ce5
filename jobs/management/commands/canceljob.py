from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

import arcgis_client
from accounts.roles import can_operate
from jobs import operations
from jobs.models import AuditEvent, Site


class Command(BaseCommand):
    help = (
        "Cancel one GP job with a portal user's own stored ArcGIS token, through the same audited "
        "operation as the web portal. Exit status 0 on success, 1 with the server's message."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the site's slug")
        parser.add_argument("service", help="Folder/Name or Name (a trailing .GPServer is fine)")
        parser.add_argument("job_id")
        parser.add_argument("--user", required=True, help="the portal user whose token is used")

    def handle(self, *args, slug, service, job_id, user, **options):
        try:
            operator = get_user_model().objects.get_by_natural_key(user)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No portal user {user!r}.") from None
        site = Site.objects.visible_to(operator).filter(slug=slug).first()
        if site is None:
            raise CommandError(f"No site {slug!r} that {user} may see.")
        if not can_operate(operator):
            raise CommandError(f"{user} may not cancel jobs (needs the Operator role).")
        try:
            target = arcgis_client.ServiceRef.parse(service)
            arcgis_client.validate_job_id(job_id)
        except arcgis_client.InvalidName as exc:
            raise CommandError(str(exc)) from None
        outcome = operations.cancel_job(operator, site, target, job_id, via=AuditEvent.Via.CLI)
        if not outcome.ok:
            raise CommandError(outcome.message, returncode=1)
        self.stdout.write(f"{outcome.message}: {job_id}")
