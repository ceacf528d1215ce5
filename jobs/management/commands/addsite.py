import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from jobs import extensions, operations
from jobs.models import AuditEvent, Site


class Command(BaseCommand):
    help = "Register an ArcGIS Server site (or update the one with this slug)."
    stealth_options = ("stdin",)  # where secrets are read from (tests pass their own)

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("admin_url", help="e.g. https://gis.example.com:6443/arcgis/admin")
        parser.add_argument("--name", help="display name (default: the slug)")
        parser.add_argument("--token-url", default="", help="token service, e.g. …/arcgis/tokens/generateToken")
        parser.add_argument("--referer", default="", help="referer that tokens are bound to")
        tls = parser.add_mutually_exclusive_group()
        tls.add_argument(
            "--ca-bundle",
            default="",
            metavar="PATH",
            help="PEM file of the CA that signed the server's certificate (read once; the site keeps its text)",
        )
        tls.add_argument("--insecure", action="store_true", help="skip TLS verification (test servers only)")
        parser.add_argument("--user", help="portal user recorded in the audit trail (default: the first superuser)")
        for options in extensions.ADDSITE.values():  # e.g. the monitoring account (history)
            options.add_arguments(parser)

    def handle(self, *args, **options):
        site = Site.objects.filter(slug=options["slug"]).first() or Site(slug=options["slug"])
        created = site.pk is None
        site.name = options["name"] or site.name or options["slug"]
        site.admin_url = options["admin_url"].rstrip("/")
        site.token_url = options["token_url"]
        site.referer = options["referer"]
        site.ca_bundle = self._read_ca_bundle(options["ca_bundle"])
        site.insecure = options["insecure"]
        try:
            site.full_clean()
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())
            raise CommandError(problems) from None
        # Who to record is settled first: a site change is never saved without its audit row.
        actor = self._actor(options["user"])
        then = self._prepare_extensions(options)
        revoked = operations.change_site(actor, site, operations.site_changes(site), via=AuditEvent.Via.CLI)
        self.stdout.write(f"{'Registered' if created else 'Updated'} site {site.slug}: {site.admin_url}")
        if revoked:
            self.stdout.write(f"The address changed: revoked {revoked} stored token(s); operators reconnect.")
        for apply in then:
            if line := apply(site, actor):
                self.stdout.write(line)

    def _prepare_extensions(self, options) -> list[extensions.Apply]:
        """What the apps above add (read, e.g. a password from standard input, and checked before anything is
        saved)."""
        stdin = options.get("stdin") or sys.stdin
        then = []
        for extension in extensions.ADDSITE.values():
            try:
                apply = extension.prepare(options, stdin)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            if apply is not None:
                then.append(apply)
        return then

    def _read_ca_bundle(self, path: str) -> str:
        """The file's PEM text: the site keeps the certificates themselves, not a path on this host."""
        if not path:
            return ""
        try:
            return Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read the CA bundle {path}: {getattr(exc, 'strerror', None) or exc}") from None

    def _actor(self, username):
        users = get_user_model().objects
        if username:
            try:
                return users.get_by_natural_key(username)
            except users.model.DoesNotExist:
                raise CommandError(f"No portal user {username!r}.") from None
        actor = users.filter(is_superuser=True).order_by("pk").first()
        if actor is None:
            raise CommandError("No superuser to record in the audit trail yet: name a portal user with --user.")
        return actor
