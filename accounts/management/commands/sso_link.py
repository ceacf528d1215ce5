from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import ProviderAccount


class Command(BaseCommand):
    help = (
        "Mark existing portal accounts for single sign-on: the next sign-in through the provider with the same "
        "name (OIDC_USERNAME_CLAIM) binds the account to that identity, and then only that identity signs in as it. "
        "For accounts made before single sign-on linked accounts to identities, or made by hand for someone."
    )

    def add_arguments(self, parser):
        parser.add_argument("usernames", nargs="+", help="the portal accounts to mark")

    def handle(self, *args, usernames, **options):
        users = get_user_model().objects.filter(username__in=usernames)
        missing = sorted(set(usernames) - {user.username for user in users})
        if missing:
            raise CommandError(f"No account named {', '.join(missing)}; nothing was marked.")
        with transaction.atomic():
            for user in users:
                _, created = ProviderAccount.objects.get_or_create(user=user)
                state = "marked: its next sign-in through the provider binds it" if created else "already linked"
                self.stdout.write(f"{user.username}: {state}.")
