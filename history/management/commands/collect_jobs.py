"""`manage.py collect_jobs [--site SLUG]`: one pass of the job history's collector in the foreground (for cron, and
for tests), every monitored site at once, with a line per site: jobs new, changed and vanished, upstream calls and
seconds. Exits with 1 when a site could not be collected."""

from django.core.management.base import BaseCommand, CommandError

from history import collector
from jobs.models import Site


class Command(BaseCommand):
    help = "Run one pass of the job history's collector over every site with a monitoring account (or one site)."

    def add_arguments(self, parser):
        parser.add_argument("--site", metavar="SLUG", help="only this site")

    def handle(self, *args, site=None, **options):
        if site:
            sites = list(Site.objects.filter(slug=site))
            if not sites:
                raise CommandError(f"No site {site!r}.")
        else:
            sites = collector.monitored_sites()
            if not sites:
                self.stdout.write("No site has a monitoring account: nothing to collect.")
                return
        results = collector.collect(sites)
        for result in results:
            self.stdout.write(result.summary)
        failed = [result.site.slug for result in results if result.problem or result.skipped]
        if failed:
            raise CommandError(f"Not collected: {', '.join(failed)}.", returncode=1)
